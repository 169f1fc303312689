CREATE TABLE episode (id bigserial PRIMARY KEY, title varchar(200) NOT NULL, production_id bigint NOT NULL REFERENCES production (id));
