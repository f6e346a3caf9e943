-- One database per service (api-v1 §1); each service migrates its own schema. Runs only when
-- the data volume is new: file-migrate creates chat_files in an older volume (docker-compose.yml).
CREATE DATABASE chat_auth;
CREATE DATABASE chat_files;
CREATE DATABASE chat_messages;
CREATE DATABASE chat_presence;
