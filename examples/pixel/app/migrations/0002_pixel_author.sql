ALTER TABLE pixels ADD COLUMN author text NOT NULL DEFAULT 'anonymous';
