-- The schema the example provision recipes build.
CREATE TABLE production (id bigserial PRIMARY KEY, title varchar(200) NOT NULL);
CREATE TABLE episode (id bigserial PRIMARY KEY, title varchar(200) NOT NULL,
                      production_id bigint NOT NULL REFERENCES production (id));
