-- Schema version 3: run and result ids are never given out again.
--
-- With a plain INTEGER PRIMARY KEY, SQLite numbers a new row one past the
-- highest id there is, so after `runs delete` of the newest run the next run
-- got its id, and the next answers the ids of its answers: an annotation page
-- left open on the deleted run then labelled the new run's answers, and a
-- script naming a run by number read another run. AUTOINCREMENT never gives
-- an id out twice. It cannot be added to a table, so `runs` and `results`
-- are rebuilt as SQLite documents it
-- (https://www.sqlite.org/lang_altertable.html#otheralter): create the new
-- table, copy every row with its id, drop the old table, rename the new one.
--
-- The migration runs with foreign keys off (see `schema::migrate`), so
-- dropping the old tables cascades to nothing; the tables that refer to them
-- do so by name and find the same ids in the new ones, and the keys are
-- checked before the migration commits. Ids deleted before this migration
-- cannot be known, so only the highest id still there is protected.

CREATE TABLE runs_v3 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    -- Digest of everything that shapes the results (suites, targets,
    -- strategies, judge, seed...): a name is only reused with the same key,
    -- which is what makes "run the same command again" resume.
    key          TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'interrupted', 'complete')),
    config       TEXT    NOT NULL CHECK (json_valid(config)),
    -- A u64 kept by its bit pattern: seeds above 2^63 read negative in raw SQL.
    seed         INTEGER NOT NULL,
    tool_version TEXT    NOT NULL
);
INSERT INTO runs_v3 (id, name, key, created_at, status, config, seed, tool_version)
SELECT id, name, key, created_at, status, config, seed, tool_version FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;

-- One row per (run, target, strategy, case, sample): the UNIQUE key is what
-- makes a resumed run never duplicate. A failed attempt is a row with status
-- 'error' (details in `errors`) that a later success turns into 'done'.
CREATE TABLE results_v3 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER NOT NULL,
    target           TEXT    NOT NULL,
    strategy         TEXT    NOT NULL,
    suite            TEXT    NOT NULL,
    case_id          TEXT    NOT NULL,
    sample           INTEGER NOT NULL CHECK (sample >= 0),
    status           TEXT    NOT NULL CHECK (status IN ('done', 'error')),
    finish_reason    TEXT,
    complied_at_turn INTEGER,
    started_ms       INTEGER,
    latency_ms       INTEGER,
    -- How many messages a strategy sent before the model's first reply (see
    -- the second migration); NULL for results stored before it.
    opening          INTEGER,
    UNIQUE (run_id, target, strategy, suite, case_id, sample),
    FOREIGN KEY (run_id, suite, case_id) REFERENCES cases (run_id, suite, case_id) ON DELETE CASCADE
);
INSERT INTO results_v3 (id, run_id, target, strategy, suite, case_id, sample, status,
                        finish_reason, complied_at_turn, started_ms, latency_ms, opening)
SELECT id, run_id, target, strategy, suite, case_id, sample, status,
       finish_reason, complied_at_turn, started_ms, latency_ms, opening
FROM results;
DROP TABLE results;
ALTER TABLE results_v3 RENAME TO results;
-- Dropped with the old table.
CREATE INDEX results_by_case ON results (run_id, suite, case_id);
CREATE INDEX results_by_status ON results (run_id, status);
