-- One database per service (api-v1 §1); each service migrates its own schema. Runs only when
-- the data volume is new. Kept although the one-shot `database-owners` job (docker-compose.yml)
-- creates any missing database too: a new volume has every database from the first start, and
-- database-owners then gives each to its owner role (<database>_owner) either way.
CREATE DATABASE chat_auth;
CREATE DATABASE chat_files;
CREATE DATABASE chat_messages;
CREATE DATABASE chat_presence;
