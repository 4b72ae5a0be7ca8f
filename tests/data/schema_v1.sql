-- Condorito schema. Applied at start; PRAGMA user_version records the version.
-- Every table holding tenant data carries tenant_id, and every query filters on it.
-- Times are unix milliseconds (INTEGER).

CREATE TABLE IF NOT EXISTS tenants (
  id          INTEGER PRIMARY KEY,
  code        TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  provider    TEXT NOT NULL DEFAULT 'sandbox' CHECK (provider IN ('sandbox', 'cloud', 'web')),
  status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  timezone    TEXT NOT NULL DEFAULT 'UTC',
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS users (
  id             INTEGER PRIMARY KEY,
  tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
  email          TEXT NOT NULL COLLATE NOCASE UNIQUE,  -- login names no tenant, so e-mail is global
  name           TEXT NOT NULL,
  role           TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
  password_hash  TEXT NOT NULL,
  disabled       INTEGER NOT NULL DEFAULT 0,
  token_version  INTEGER NOT NULL DEFAULT 1,  -- bumped on password change / disable: revokes every token
  created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS users_tenant ON users(tenant_id);

-- One row per login; logout revokes just that token (and its sockets).
CREATE TABLE IF NOT EXISTS sessions (
  id          TEXT PRIMARY KEY,
  tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
  user_id     INTEGER NOT NULL REFERENCES users(id),
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  revoked_at  INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);

CREATE TABLE IF NOT EXISTS contacts (
  id          INTEGER PRIMARY KEY,
  tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
  phone       TEXT NOT NULL,             -- E.164 digits without '+', or a provider user id
  name        TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  UNIQUE (tenant_id, phone)
) STRICT;

CREATE TABLE IF NOT EXISTS conversations (
  id               INTEGER PRIMARY KEY,
  tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
  contact_id       INTEGER NOT NULL REFERENCES contacts(id),
  status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  unread_count     INTEGER NOT NULL DEFAULT 0,
  last_message_id  INTEGER,
  last_inbound_at  INTEGER,
  updated_at       INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  UNIQUE (tenant_id, contact_id)
) STRICT;
CREATE INDEX IF NOT EXISTS conversations_list ON conversations(tenant_id, updated_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS messages (
  id               INTEGER PRIMARY KEY,
  tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
  conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
  direction        TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  type             TEXT NOT NULL DEFAULT 'text',
  body             TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
  error            TEXT,
  wa_id            TEXT,                 -- the provider's message id (dedupe key per tenant)
  author_kind      TEXT CHECK (author_kind IN ('user', 'bot', 'bulk', 'contact')),
  author_user_id   INTEGER,
  created_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS messages_wa_id ON messages(tenant_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS messages_day ON messages(tenant_id, created_at);

-- Accent-insensitive full-text search: "cancion" finds "canción".
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
  body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF body ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
  INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;

-- Sends go through here: the unique key makes a retried POST answer the same message.
CREATE TABLE IF NOT EXISTS outbox (
  id               INTEGER PRIMARY KEY,
  tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
  message_id       INTEGER NOT NULL REFERENCES messages(id),
  idempotency_key  TEXT NOT NULL,
  request_hash     TEXT NOT NULL,        -- a reused key with a different request is refused
  state            TEXT NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'sending', 'accepted', 'failed', 'unconfirmed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  UNIQUE (tenant_id, idempotency_key)
) STRICT;
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, id) WHERE state IN ('queued', 'sending');

-- Receipts that arrived before we stored the provider id of their message (a race with the
-- send call, or sends from another device); applied when the id shows up, dropped after a day.
CREATE TABLE IF NOT EXISTS orphan_statuses (
  tenant_id   INTEGER NOT NULL,
  wa_id       TEXT NOT NULL,
  status      TEXT NOT NULL,
  error       TEXT,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, wa_id, status)
) STRICT, WITHOUT ROWID;

-- The WhatsApp link of each tenant, as last known.
CREATE TABLE IF NOT EXISTS whatsapp_sessions (
  tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
  state       TEXT NOT NULL DEFAULT 'stopped',
  phone       TEXT,
  since       INTEGER,
  reason      TEXT
) STRICT;

-- Provider settings of a tenant (Cloud API credentials). Secrets never leave through the API.
CREATE TABLE IF NOT EXISTS whatsapp_configs (
  tenant_id        INTEGER PRIMARY KEY REFERENCES tenants(id),
  phone_number_id  TEXT,
  access_token     TEXT,
  app_secret       TEXT,
  verify_token     TEXT,
  api_base         TEXT,
  updated_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_configs_phone ON whatsapp_configs(phone_number_id)
  WHERE phone_number_id IS NOT NULL;

-- The realtime stream (see docs: PROTOCOL.md §4). One row per tenant.
CREATE TABLE IF NOT EXISTS rt_stream (
  tenant_id       INTEGER PRIMARY KEY REFERENCES tenants(id),
  epoch           TEXT NOT NULL,               -- changes when history is lost or reset
  head            INTEGER NOT NULL DEFAULT 0,  -- last allocated seq
  pruned_through  INTEGER NOT NULL DEFAULT 0   -- highest seq removed by retention
) STRICT;
CREATE TABLE IF NOT EXISTS rt_event (
  tenant_id     INTEGER NOT NULL,
  seq           INTEGER NOT NULL,
  name          TEXT NOT NULL,                 -- internal name, e.g. 'message:new'
  coalesce_key  TEXT,                          -- NULL = durable; else latest-wins
  audience      TEXT,                          -- NULL = whole tenant
  payload       BLOB NOT NULL,                 -- orjson bytes of `data`
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rt_event_age ON rt_event(tenant_id, created_at);
CREATE INDEX IF NOT EXISTS rt_event_key ON rt_event(tenant_id, coalesce_key) WHERE coalesce_key IS NOT NULL;

PRAGMA user_version = 1;
