CREATE TABLE articles (id serial PRIMARY KEY, title text NOT NULL);
