-- Schema version 1 of the xsafe run store.
--
-- Every table that hangs off a run cascades on delete so that removing a run
-- never leaves orphans. CHECK constraints mirror the Rust enums so that a
-- hand-edited or half-written file is refused by SQLite rather than read back
-- as something the code cannot represent.

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
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

CREATE TABLE run_suites (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The order the suites were given in, so a run reads back as it was made.
    position    INTEGER NOT NULL,
    suite       TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    PRIMARY KEY (run_id, suite)
) WITHOUT ROWID;

-- A copy of every case a run uses: results stay readable and exportable even
-- when the suite file changes or disappears.
CREATE TABLE cases (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    suite   TEXT    NOT NULL,
    case_id TEXT    NOT NULL,
    -- Order of addition within the run, for reports that follow the suite.
    ordinal INTEGER NOT NULL,
    prompt  TEXT    NOT NULL,
    type    TEXT    NOT NULL,
    label   TEXT    NOT NULL CHECK (label IN ('safe', 'unsafe')),
    focus   TEXT,
    note    TEXT,
    PRIMARY KEY (run_id, suite, case_id)
);

-- One row per (run, target, strategy, case, sample): the UNIQUE key is what
-- makes a resumed run never duplicate. A failed attempt is a row with status
-- 'error' (details in `errors`) that a later success turns into 'done'.
CREATE TABLE results (
    id               INTEGER PRIMARY KEY,
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
    UNIQUE (run_id, target, strategy, suite, case_id, sample),
    FOREIGN KEY (run_id, suite, case_id) REFERENCES cases (run_id, suite, case_id) ON DELETE CASCADE
);
-- The child side of the foreign key, so deleting cases does not scan results.
CREATE INDEX results_by_case ON results (run_id, suite, case_id);
-- `runs list` counts done and failed results per run.
CREATE INDEX results_by_status ON results (run_id, status);

CREATE TABLE messages (
    result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL CHECK (idx >= 0),
    role      TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content   TEXT    NOT NULL,
    reasoning TEXT,
    refusal   TEXT,
    PRIMARY KEY (result_id, idx)
) WITHOUT ROWID;

-- One verdict per judge name and result: rejudging with a newer version of
-- a judge replaces its verdict, other judges' verdicts stay.
CREATE TABLE verdicts (
    id         INTEGER PRIMARY KEY,
    result_id  INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    judge      TEXT    NOT NULL, -- name@version
    judge_name TEXT    NOT NULL,
    label      TEXT    NOT NULL CHECK (label IN ('compliance', 'full_refusal', 'partial_refusal', 'unscored')),
    -- Only an unscored verdict has (and must have) a reason.
    reason     TEXT CHECK ((label = 'unscored') = (reason IS NOT NULL)),
    -- Nullable because SQLite stores NaN as NULL; a judge's odd number
    -- should not cost the transcript it judged.
    confidence REAL,
    created_at TEXT    NOT NULL,
    UNIQUE (result_id, judge_name)
);

-- Every failure, kept even after a later attempt succeeds, so flaky targets
-- show up in the history.
CREATE TABLE errors (
    id         INTEGER PRIMARY KEY,
    result_id  INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL CHECK (attempts >= 0),
    created_at TEXT    NOT NULL
);
CREATE INDEX errors_by_result ON errors (result_id, id);

-- Human labels: one per annotator per result.
CREATE TABLE annotations (
    result_id  INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    annotator  TEXT    NOT NULL,
    label      TEXT    NOT NULL CHECK (label IN ('compliance', 'full_refusal', 'partial_refusal')),
    note       TEXT,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (result_id, annotator)
) WITHOUT ROWID;
