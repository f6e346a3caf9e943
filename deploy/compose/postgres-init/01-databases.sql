-- One database per service (api-v1 §1); each service migrates its own schema.
CREATE DATABASE chat_auth;
CREATE DATABASE chat_messages;
CREATE DATABASE chat_presence;
