CREATE TABLE pixels (id serial PRIMARY KEY, x integer NOT NULL, y integer NOT NULL, color text NOT NULL);
