-- A stand-in for the example app's schema (flows/example_app/, to come
-- with the crud-flow issue): its five related resources and a user table,
-- with the indexes and foreign keys a Django migration would create.
CREATE TABLE app_user (id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE,
                       password varchar(128) NOT NULL, is_staff boolean NOT NULL DEFAULT false,
                       date_joined timestamptz NOT NULL DEFAULT now());
CREATE TABLE actor (id bigserial PRIMARY KEY, name varchar(200) NOT NULL,
                    born date, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX actor_name_idx ON actor (name);
CREATE TABLE tag_category (id bigserial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE);
CREATE TABLE tag (id bigserial PRIMARY KEY, name varchar(100) NOT NULL,
                  category_id bigint NOT NULL REFERENCES tag_category (id) ON DELETE CASCADE,
                  UNIQUE (category_id, name));
CREATE INDEX tag_category_id_idx ON tag (category_id);
CREATE TABLE production (id bigserial PRIMARY KEY, title varchar(200) NOT NULL,
                         year integer CHECK (year > 1800), owner_id integer REFERENCES app_user (id));
CREATE INDEX production_title_idx ON production (title);
CREATE TABLE production_actors (id bigserial PRIMARY KEY,
                                production_id bigint NOT NULL REFERENCES production (id) ON DELETE CASCADE,
                                actor_id bigint NOT NULL REFERENCES actor (id) ON DELETE CASCADE,
                                UNIQUE (production_id, actor_id));
CREATE TABLE production_tags (id bigserial PRIMARY KEY,
                              production_id bigint NOT NULL REFERENCES production (id) ON DELETE CASCADE,
                              tag_id bigint NOT NULL REFERENCES tag (id) ON DELETE CASCADE,
                              UNIQUE (production_id, tag_id));
CREATE TABLE episode (id bigserial PRIMARY KEY, title varchar(200) NOT NULL,
                      number integer NOT NULL CHECK (number > 0),
                      production_id bigint NOT NULL REFERENCES production (id) ON DELETE CASCADE,
                      UNIQUE (production_id, number));
CREATE INDEX episode_production_id_idx ON episode (production_id);
