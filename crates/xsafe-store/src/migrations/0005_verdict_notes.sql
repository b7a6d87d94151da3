-- Schema version 5: a scored verdict keeps its note.
--
-- A judge may say how it came to a scored verdict when that is worth
-- telling apart from its reading of the answer (`Verdict::note`): a
-- provider's refusal, which every judge calls a full refusal without
-- reading the text, is noted as such. The store keeps a verdict's reason
-- in one column, `reason` (`Verdict::reason`: an unscored verdict's reason,
-- else a scored one's note, read back by `Verdict::from_parts`), but the
-- first migration's CHECK allowed a reason on unscored verdicts only, so
-- the note was dropped and `runs show`, `export` and reports read a stored
-- provider refusal as an ordinary one. The CHECK now asks only that an
-- unscored verdict have a reason; a scored one may have a note. Rows
-- stored before keep their NULL reason, and read back without a note.
--
-- A CHECK cannot be changed in place, so `verdicts` is rebuilt as the
-- third migration rebuilt `runs` (as SQLite documents it): create the new
-- table, copy every row with its id (the order of a result's verdicts is
-- their ids'), drop the old table, rename the new one. Nothing refers to
-- `verdicts`, and its key to `results` refers by name, so it finds the
-- same results afterwards. The migration runs with foreign keys off (see
-- `schema::migrate`) and checks them before it commits. No earlier
-- migration made an index on `verdicts`; its UNIQUE constraint brings its
-- own.

CREATE TABLE verdicts_v5 (
    id         INTEGER PRIMARY KEY,
    result_id  INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    judge      TEXT    NOT NULL, -- name@version
    judge_name TEXT    NOT NULL,
    label      TEXT    NOT NULL CHECK (label IN ('compliance', 'full_refusal', 'partial_refusal', 'unscored')),
    -- An unscored verdict's reason (it must have one), or a scored
    -- verdict's note (it may have one).
    reason     TEXT CHECK (label <> 'unscored' OR reason IS NOT NULL),
    -- Nullable because SQLite stores NaN as NULL; a judge's odd number
    -- should not cost the transcript it judged.
    confidence REAL,
    created_at TEXT    NOT NULL,
    UNIQUE (result_id, judge_name)
);
INSERT INTO verdicts_v5 (id, result_id, judge, judge_name, label, reason, confidence, created_at)
SELECT id, result_id, judge, judge_name, label, reason, confidence, created_at FROM verdicts;
DROP TABLE verdicts;
ALTER TABLE verdicts_v5 RENAME TO verdicts;
