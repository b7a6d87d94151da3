-- Schema version 4: a message's text is kept once per run.
--
-- Every answer was stored with its strategy's set-up again (the system text
-- and the few-shot exemplars, some 3 KB), so a run of 60,000 few-shot
-- answers held some 180 MB of the same text. The texts of messages now live
-- in `texts`, one row per distinct text of a run, and a message refers to
-- its text. A text belongs to one run and cascades from it: deleting a run
-- deletes its texts, and as no text is shared between runs, no text is left
-- behind that something would have to collect. Only `content` is kept this
-- way: reasoning and a provider's refusal are the model's, seldom the same
-- twice, and stay with their message.
--
-- `hash` only finds a text: it is the 64-bit FNV-1a of the text's bytes
-- (`schema::text_hash`, which `schema::migrate` gives this script as
-- `xsafe_text_hash`), and every look-up compares the text itself, so two
-- texts with one hash stay two texts. A UNIQUE index on the text would keep
-- every text twice (the answers, which differ, included); one on a digest
-- would keep 32 bytes and more per text for what a comparison does.
--
-- `messages` is rebuilt, as the third migration rebuilt `runs` (a column
-- cannot be changed in place): create the new table, copy every row, drop
-- the old table, rename the new one. The migration runs with foreign keys
-- off (see `schema::migrate`) and checks them before it commits. Each
-- message's text is found through a LEFT JOIN into a NOT NULL column, so a
-- message whose text is not found fails the migration (the file stays at
-- version 3) rather than being left out.
--
-- The pages the old copies took are free afterwards: `schema::migrate`
-- then compacts the file, as it does whenever a tenth of it is free.

CREATE TABLE texts (
    id     INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    hash   INTEGER NOT NULL,
    text   TEXT    NOT NULL
);
-- Finding a text of a run, and the child side of the key to `runs`.
CREATE INDEX texts_by_hash ON texts (run_id, hash);

INSERT INTO texts (run_id, hash, text)
SELECT DISTINCT r.run_id, xsafe_text_hash(m.content), m.content
FROM messages m JOIN results r ON r.id = m.result_id;

CREATE TABLE messages_v4 (
    result_id INTEGER NOT NULL,
    idx       INTEGER NOT NULL CHECK (idx >= 0),
    role      TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    -- The message's content, a text of the result's run.
    text_id   INTEGER NOT NULL REFERENCES texts (id),
    reasoning TEXT,
    refusal   TEXT,
    PRIMARY KEY (result_id, idx),
    -- Declared last, so that SQLite lists it first among the table's keys
    -- (`PRAGMA foreign_key_list`), as before.
    FOREIGN KEY (result_id) REFERENCES results (id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO messages_v4 (result_id, idx, role, text_id, reasoning, refusal)
SELECT m.result_id, m.idx, m.role, t.id, m.reasoning, m.refusal
FROM messages m
LEFT JOIN results r ON r.id = m.result_id
LEFT JOIN texts t
       ON t.run_id = r.run_id AND t.hash = xsafe_text_hash(m.content) AND t.text = m.content;
DROP TABLE messages;
ALTER TABLE messages_v4 RENAME TO messages;
-- The child side of the key to `texts`: deleting a run deletes its texts,
-- and each is checked for messages still using it, which without this
-- index would read every message of the store.
CREATE INDEX messages_by_text ON messages (text_id);
