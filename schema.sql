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
  created_at  INTEGER NOT NULL,
  default_lang TEXT NOT NULL DEFAULT 'es',  -- pages for users who chose no language (v5)
  default_country TEXT  -- ISO country of numbers written without '+'; NULL: from timezone (v7)
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
  created_at     INTEGER NOT NULL,
  must_change_password INTEGER NOT NULL DEFAULT 0,  -- a one-time password: only a change is allowed (v5)
  lang           TEXT  -- 'es' | 'en'; NULL: the tenant's default_lang (v5)
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
-- Revoked sessions only, by time: the revocation watch reads "revoked since" every 2 s
-- (app/services/revocations.py) without scanning every session. (v15)
CREATE INDEX IF NOT EXISTS sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS contacts (
  id          INTEGER PRIMARY KEY,
  tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
  phone       TEXT NOT NULL,             -- E.164 digits without '+', or a provider user id
  name        TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  name_folded TEXT NOT NULL DEFAULT '',  -- fold(name), written with it: search compares this
  UNIQUE (tenant_id, phone)
) STRICT;
-- Version 3 had no folded names: fold them once (fold() is registered on every connection).
UPDATE contacts SET name_folded = fold(name) WHERE name_folded != fold(name);
-- Search scans a tenant's folded names and phones for a substring: this index holds all three,
-- so the scan reads a few compact index pages instead of the table.
CREATE INDEX IF NOT EXISTS contacts_search ON contacts(tenant_id, name_folded, phone);

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
  needs_attention  INTEGER NOT NULL DEFAULT 0,  -- the customer asked for a person (bot hand-off, v14)
  UNIQUE (tenant_id, contact_id)
) STRICT;
CREATE INDEX IF NOT EXISTS conversations_list ON conversations(tenant_id, updated_at DESC, id DESC);
-- The chat list's "Unread" filter: without it the list index is walked to the last unread one
-- (all 10 000 rows when the few unread are the oldest; bench/unread_filter.py). (v15)
CREATE INDEX IF NOT EXISTS conversations_unread ON conversations(tenant_id, updated_at DESC, id DESC)
  WHERE unread_count > 0;

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
  created_at       INTEGER NOT NULL,
  reply_to_id      INTEGER,              -- the message this one answers (same conversation; v12)
  template         TEXT                  -- JSON {name, language, params} of a template send (v12)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS messages_wa_id ON messages(tenant_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
-- Inbound messages not read yet: marking a conversation read touches these rows only, not the
-- whole thread (app/services/messages.py mark_read).
CREATE INDEX IF NOT EXISTS messages_unread ON messages(conversation_id)
  WHERE direction = 'in' AND status = 'delivered';
DROP INDEX IF EXISTS messages_day;
DROP INDEX IF EXISTS messages_day_dir;

-- Messages per tenant, direction and quarter hour (every UTC offset is a multiple of 15 min,
-- so "today" in any timezone is a sum of at most 96 rows, however busy the day was).
CREATE TABLE IF NOT EXISTS message_counts (
  tenant_id  INTEGER NOT NULL,
  bucket     INTEGER NOT NULL,           -- created_at // 900000
  direction  TEXT NOT NULL,
  n          INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, bucket, direction)
) STRICT, WITHOUT ROWID;
-- Version 2 counted from the messages themselves: carry those counts over once.
INSERT OR IGNORE INTO message_counts (tenant_id, bucket, direction, n)
  SELECT tenant_id, created_at / 900000, direction, COUNT(*) FROM messages
  GROUP BY tenant_id, created_at / 900000, direction;

-- Versions 1-5 indexed every message on its own (messages_fts); search reads the index per
-- conversation below (conversations_fts) and nothing read that one: version 6 drops it, which
-- halves the indexing work of every message.
DROP TABLE IF EXISTS messages_fts;
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
CREATE TABLE IF NOT EXISTS search_index (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  last_id  INTEGER NOT NULL            -- messages with a higher id are not indexed yet
) STRICT;
-- Version 1 indexed every message by trigger: start after them.
INSERT OR IGNORE INTO search_index (id, last_id) VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM messages));

-- The same words per conversation, for the conversation search: rowid is the conversation id,
-- and each message is added as one more document under it (a contentless index without
-- positions: "conversation X holds word W" is all it records, so documents sharing a rowid
-- simply merge). A search then reads one posting per matching conversation, not per message,
-- and never joins back to the messages. Filled by the same batches as messages_fts.
CREATE VIRTUAL TABLE IF NOT EXISTS conversations_fts USING fts5(
  body, content='', detail=none, columnsize=0, tokenize='unicode61 remove_diacritics 2'
);
-- Version 3: index what messages_fts had indexed already (the batches do the rest).
-- One document per conversation, in rowid order: FTS5 writes a new segment whenever a rowid is
-- not above the last one, so message order would make one segment per message.
INSERT INTO conversations_fts (rowid, body)
  SELECT conversation_id, group_concat(body, ' ') FROM messages
  WHERE id <= (SELECT last_id FROM search_index WHERE id = 1)
    AND (SELECT user_version FROM pragma_user_version) < 4
  GROUP BY conversation_id ORDER BY conversation_id;

-- Dashboard figures per tenant, kept by the triggers below in the same transaction as the
-- change, so GET /stats reads one row instead of counting every conversation and contact.
CREATE TABLE IF NOT EXISTS tenant_counts (
  tenant_id           INTEGER PRIMARY KEY,
  conversations_open  INTEGER NOT NULL DEFAULT 0,
  unread              INTEGER NOT NULL DEFAULT 0,   -- sum of unread_count over open conversations
  contacts            INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Version 3: count once.
INSERT OR REPLACE INTO tenant_counts (tenant_id, conversations_open, unread, contacts)
  SELECT t.id,
    (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = t.id AND c.status = 'open'),
    (SELECT COALESCE(SUM(unread_count), 0) FROM conversations c
      WHERE c.tenant_id = t.id AND c.status = 'open'),
    (SELECT COUNT(*) FROM contacts ct WHERE ct.tenant_id = t.id)
  FROM tenants t;
CREATE TRIGGER IF NOT EXISTS tenant_counts_contact_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO tenant_counts (tenant_id, contacts) VALUES (new.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET contacts = contacts + 1;
END;
CREATE TRIGGER IF NOT EXISTS tenant_counts_contact_delete AFTER DELETE ON contacts BEGIN
  UPDATE tenant_counts SET contacts = contacts - 1 WHERE tenant_id = old.tenant_id;
END;
CREATE TRIGGER IF NOT EXISTS tenant_counts_conversation_insert AFTER INSERT ON conversations
BEGIN
  INSERT INTO tenant_counts (tenant_id, conversations_open, unread)
    VALUES (new.tenant_id, new.status = 'open', IIF(new.status = 'open', new.unread_count, 0))
    ON CONFLICT (tenant_id) DO UPDATE SET
      conversations_open = conversations_open + excluded.conversations_open,
      unread = unread + excluded.unread;
END;
CREATE TRIGGER IF NOT EXISTS tenant_counts_conversation_update
  AFTER UPDATE OF status, unread_count, tenant_id ON conversations
  WHEN old.status != new.status OR old.unread_count != new.unread_count
    OR old.tenant_id != new.tenant_id
BEGIN
  UPDATE tenant_counts SET
    conversations_open = conversations_open - (old.status = 'open'),
    unread = unread - IIF(old.status = 'open', old.unread_count, 0)
    WHERE tenant_id = old.tenant_id;
  INSERT INTO tenant_counts (tenant_id, conversations_open, unread)
    VALUES (new.tenant_id, new.status = 'open', IIF(new.status = 'open', new.unread_count, 0))
    ON CONFLICT (tenant_id) DO UPDATE SET
      conversations_open = conversations_open + excluded.conversations_open,
      unread = unread + excluded.unread;
END;
CREATE TRIGGER IF NOT EXISTS tenant_counts_conversation_delete AFTER DELETE ON conversations
BEGIN
  UPDATE tenant_counts SET
    conversations_open = conversations_open - (old.status = 'open'),
    unread = unread - IIF(old.status = 'open', old.unread_count, 0)
    WHERE tenant_id = old.tenant_id;
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
  next_attempt_at  INTEGER NOT NULL DEFAULT 0,  -- a retry waits until then (unix ms; v11)
  UNIQUE (tenant_id, idempotency_key)
) STRICT;
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, id) WHERE state IN ('queued', 'sending');
-- The worker's per-tenant picks: a tenant's queued rows in order (app/services/outbox.py).
CREATE INDEX IF NOT EXISTS outbox_queued ON outbox(tenant_id, id) WHERE state = 'queued';

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

-- Verified provider webhooks, kept from the 200 until applied (app/services/webhook_queue.py).
CREATE TABLE IF NOT EXISTS webhook_inbox (
  id           INTEGER PRIMARY KEY,
  tenant_id    INTEGER NOT NULL,
  provider     TEXT NOT NULL,
  body         BLOB NOT NULL,
  received_at  INTEGER NOT NULL,
  failed_at    INTEGER,                -- set when applying it failed: kept for an operator
  error        TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS webhook_inbox_pending ON webhook_inbox(id) WHERE failed_at IS NULL;

-- Media of a message (inbound photos, voice notes, documents...; outbound attachments). One row
-- per message; the bytes live under the data directory by content hash (app/services/media.py),
-- never at a path taken from the provider or the user. Inbound rows start `pending` and the
-- downloader takes them to `ready` or `failed` (with a reason); a pending row survives restarts.
CREATE TABLE IF NOT EXISTS media (
  message_id        INTEGER PRIMARY KEY REFERENCES messages(id),
  tenant_id         INTEGER NOT NULL REFERENCES tenants(id),
  kind              TEXT NOT NULL CHECK (kind IN ('image', 'audio', 'video', 'document', 'sticker')),
  provider_media_id TEXT,                 -- the provider's id to fetch it by (inbound)
  mime              TEXT NOT NULL DEFAULT '',
  size              INTEGER,              -- bytes, once stored
  sha256            TEXT,                 -- hex digest of the stored bytes: the file's name
  expected_sha256   TEXT,                 -- what the provider announced (hex or base64)
  filename          TEXT,                 -- documents: the name the sender gave (shown, never a path)
  state             TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'failed')),
  error             TEXT,                 -- why it failed: too_large, not_found, ...
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS media_pending ON media(next_attempt_at) WHERE state = 'pending';

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
  updated_at       INTEGER NOT NULL,
  waba_id          TEXT                  -- WhatsApp Business Account: its message templates (v12)
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
DROP INDEX IF EXISTS rt_event_age;  -- retention bisects on seq instead (stream.prune)
CREATE INDEX IF NOT EXISTS rt_event_key ON rt_event(tenant_id, coalesce_key) WHERE coalesce_key IS NOT NULL;

-- Opt-out (app/services/optout.py): the tenant's stop words (defaults while no row) and the
-- phones bulk campaigns skip. Version 9.
CREATE TABLE IF NOT EXISTS optout_settings (
  tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
  words       TEXT NOT NULL,                -- JSON array of strings
  updated_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS suppressions (
  id          INTEGER PRIMARY KEY,
  tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
  phone       TEXT NOT NULL,                -- as contacts.phone
  source      TEXT NOT NULL CHECK (source IN ('keyword', 'agent', 'import')),
  created_by  INTEGER,                      -- the user who added it (source 'agent')
  created_at  INTEGER NOT NULL,
  UNIQUE (tenant_id, phone)
) STRICT;
CREATE INDEX IF NOT EXISTS suppressions_list ON suppressions(tenant_id, created_at DESC, id DESC);
-- The auto-reply bot (issue 11; app/services/bot_store.py). Its rules are one JSON document,
-- validated on save by app/services/bot_config.py.
CREATE TABLE IF NOT EXISTS bot_settings (
  tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
  enabled     INTEGER NOT NULL DEFAULT 0,
  enabled_at  INTEGER,                  -- last switched on: older messages are never answered
  rules       TEXT NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;
-- What the bot remembers of each conversation.
CREATE TABLE IF NOT EXISTS bot_conversations (
  tenant_id         INTEGER NOT NULL,
  conversation_id   INTEGER NOT NULL,
  handled_through   INTEGER NOT NULL DEFAULT 0,  -- the last inbound message id it looked at
  paused_until      INTEGER,                     -- an agent took over (or the customer asked for one)
  last_away_at      INTEGER,
  last_fallback_at  INTEGER,
  menu              INTEGER,                     -- the keyword whose numbered menu is open
  window_start      INTEGER NOT NULL DEFAULT 0,  -- loop guard: replies in the current hour
  window_replies    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, conversation_id)
) STRICT, WITHOUT ROWID;
-- Today's bot answers and hand-offs per quarter hour, as message_counts (the dashboard's card).
CREATE TABLE IF NOT EXISTS bot_counts (
  tenant_id  INTEGER NOT NULL,
  bucket     INTEGER NOT NULL,
  kind       TEXT NOT NULL,              -- 'answered' | 'handoff'
  n          INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, bucket, kind)
) STRICT, WITHOUT ROWID;
-- "Paused until the conversation is closed" ends when it is closed, whoever closes it.
CREATE TRIGGER IF NOT EXISTS bot_resume_on_close AFTER UPDATE OF status ON conversations
  WHEN new.status = 'closed' AND old.status != 'closed'
BEGIN
  UPDATE bot_conversations SET paused_until = NULL
    WHERE tenant_id = new.tenant_id AND conversation_id = new.id;
END;

-- One row, rewritten by GET /healthz to prove the database takes a real write (no tenant data).
CREATE TABLE IF NOT EXISTS health_probe (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at  INTEGER NOT NULL
) STRICT;

-- Bulk campaigns (app/services/bulk.py, the runner in bulk_runner.py). Version 13.
-- The counters are kept by the triggers below in the transaction of every recipient change, so
-- they always equal the rows; `dirty` tells the runner a progress event is owed.
CREATE TABLE IF NOT EXISTS campaigns (
  id           INTEGER PRIMARY KEY,
  tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
  name         TEXT NOT NULL,
  body         TEXT NOT NULL DEFAULT '',
  template     TEXT,                    -- JSON {"name","language"} of an approved template, or NULL
  status       TEXT NOT NULL DEFAULT 'draft'
               CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
  pause_reason TEXT,                    -- 'user', or why the system paused it (spam_limit, ...)
  pacing       TEXT NOT NULL,           -- JSON: how fast it may send (app/services/pacing.py)
  start_at     INTEGER,                 -- optional start time
  total        INTEGER NOT NULL DEFAULT 0,
  n_pending    INTEGER NOT NULL DEFAULT 0,
  n_sending    INTEGER NOT NULL DEFAULT 0,
  n_sent       INTEGER NOT NULL DEFAULT 0,
  n_delivered  INTEGER NOT NULL DEFAULT 0,
  n_read       INTEGER NOT NULL DEFAULT 0,
  n_failed     INTEGER NOT NULL DEFAULT 0,
  n_skipped    INTEGER NOT NULL DEFAULT 0,
  n_unknown    INTEGER NOT NULL DEFAULT 0,
  n_replied    INTEGER NOT NULL DEFAULT 0,
  dirty        INTEGER NOT NULL DEFAULT 0,
  created_by   INTEGER,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS campaigns_list ON campaigns(tenant_id, id DESC);
CREATE INDEX IF NOT EXISTS campaigns_active ON campaigns(status, tenant_id)
  WHERE status IN ('scheduled', 'running');
CREATE INDEX IF NOT EXISTS campaigns_dirty ON campaigns(id) WHERE dirty = 1;

CREATE TABLE IF NOT EXISTS campaign_recipients (
  id           INTEGER PRIMARY KEY,
  tenant_id    INTEGER NOT NULL,
  campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
  phone        TEXT NOT NULL,           -- E.164 digits, as contacts.phone
  name         TEXT NOT NULL DEFAULT '',
  vars         TEXT,                    -- JSON object of the row's variables
  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
               ('pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'unknown')),
  error        TEXT,
  message_id   INTEGER,                 -- the outbound message of the last attempt
  attempts     INTEGER NOT NULL DEFAULT 0,
  not_before   INTEGER NOT NULL DEFAULT 0,  -- per-recipient back-off (131056)
  queued_at    INTEGER,                 -- handed to the outbox (last attempt)
  replied_at   INTEGER,
  updated_at   INTEGER NOT NULL,
  UNIQUE (campaign_id, phone)
) STRICT;
CREATE INDEX IF NOT EXISTS campaign_recipients_state ON campaign_recipients(campaign_id, state, id);
CREATE INDEX IF NOT EXISTS campaign_recipients_message ON campaign_recipients(message_id)
  WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS campaign_recipients_phone ON campaign_recipients(tenant_id, phone);
CREATE INDEX IF NOT EXISTS campaign_recipients_queued ON campaign_recipients(tenant_id, queued_at)
  WHERE queued_at IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS campaign_recipients_insert AFTER INSERT ON campaign_recipients BEGIN
  UPDATE campaigns SET total = total + 1,
    n_pending = n_pending + (new.state = 'pending'), n_skipped = n_skipped + (new.state = 'skipped'),
    dirty = 1
    WHERE id = new.campaign_id;
END;
CREATE TRIGGER IF NOT EXISTS campaign_recipients_state AFTER UPDATE OF state ON campaign_recipients
  WHEN old.state != new.state
BEGIN
  UPDATE campaigns SET
    n_pending = n_pending - (old.state = 'pending') + (new.state = 'pending'),
    n_sending = n_sending - (old.state = 'sending') + (new.state = 'sending'),
    n_sent = n_sent - (old.state = 'sent') + (new.state = 'sent'),
    n_delivered = n_delivered - (old.state = 'delivered') + (new.state = 'delivered'),
    n_read = n_read - (old.state = 'read') + (new.state = 'read'),
    n_failed = n_failed - (old.state = 'failed') + (new.state = 'failed'),
    n_skipped = n_skipped - (old.state = 'skipped') + (new.state = 'skipped'),
    n_unknown = n_unknown - (old.state = 'unknown') + (new.state = 'unknown'),
    dirty = 1
    WHERE id = new.campaign_id;
END;
CREATE TRIGGER IF NOT EXISTS campaign_recipients_replied AFTER UPDATE OF replied_at ON campaign_recipients
  WHEN old.replied_at IS NULL AND new.replied_at IS NOT NULL
BEGIN
  UPDATE campaigns SET n_replied = n_replied + 1, dirty = 1 WHERE id = new.campaign_id;
END;

PRAGMA user_version = 15;
