-- How many messages a strategy sent before the model's first reply, so the
-- model's turns are told apart from few-shot exemplar answers. NULL for
-- results stored before this column existed.
ALTER TABLE results ADD COLUMN opening INTEGER;
