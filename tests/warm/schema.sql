CREATE TABLE warm_test (id integer);
