/* crud-flow's model: a flow file (JSON) loaded, its includes spliced in,
 * its crud and login shorthands expanded into plain steps, and checked,
 * so that a bad flow is refused before any request with one line naming
 * the file and the path into it ("steps[3].expect.assert[0].op").
 * The format is documented in nrunner-flow(5). */
#ifndef NR_FLOW_H
#define NR_FLOW_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct flow {
	char *file;      /* the flow file as given */
	char *name;
	cJSON *vars;     /* object: name -> value (templates allowed) */
	cJSON *clients;  /* object: name -> client object */
	cJSON *steps;    /* array of plain steps; each has "_origin" (a path
			  * into the file that wrote it, for messages) */
	cJSON *secrets;  /* array of strings never to print */
	char *base_url;  /* from the file, may be NULL */
	cJSON *environment; /* the flow's own "environment", or NULL */
} flow;

/* Loads and checks a flow file.  On error returns NULL with one line in
 * err: "<file>: <path>: <what is wrong>; <what to do>". */
flow *flow_load(const char *path, char *err, size_t errlen);
/* The same, for a file the caller has read: `text` is its contents
 * (NUL-terminated; still the caller's), its includes are read here. */
flow *flow_parse(const char *path, char *text, char *err, size_t errlen);
void flow_free(flow *f);

/* A loaded flow as plain JSON: file, name, base_url, vars, clients, the
 * plain steps (with _file and _path) and environment.  It is what the
 * resolve step puts in the runnable (kwargs "flow"), so that job_begin
 * and run() read no file. */
cJSON *flow_to_json(const flow *f);
/* The flow that flow_to_json() made, checked again as a file is (a
 * recipe may hold anything); NULL with one line in err. */
flow *flow_from_json(const cJSON *o, char *err, size_t errlen);

/* Checks that an object has only the listed keys (NULL-terminated; those
 * starting with '_' are internal and not named in the message); else -1
 * with "<file>: <path>.<key>: unknown key; use one of: ...". */
int flow_known_keys(const cJSON *o, const char *const *keys, const char *file,
		    const char *path, char *err, size_t errlen);

/* The environment file's client defaults (its "client": connection,
 * headers, timeout_s; checked by env_load) under every client of the
 * flow, "default" included: a key the client sets wins, and headers
 * merge, the client's winning over a default of the same name in any
 * case.  Each client remembers what came from `file` (_env_file,
 * _env_keys, _env_headers) for messages, and the flow is checked again:
 * a header's {{variable}} must be defined by the step that sends it.
 * -1 with one line in err. */
int flow_client_defaults(flow *f, const cJSON *defaults, const char *file, char *err,
			 size_t errlen);

/* A client object's connection, headers (an object) and timeout_s
 * (seconds, above 0 and at most FLOW_MAX_TIMEOUT_S), for a flow's clients
 * and the environment file's defaults; else -1 with one line
 * "<file>: <where>.<key>: ...". */
#define FLOW_MAX_TIMEOUT_S 3600
#define FLOW_DEFAULT_TIMEOUT_S 60
int flow_check_client_keys(const cJSON *cl, const char *file, const char *where, char *err,
			   size_t errlen);

/* Whether a parsed JSON document looks like a flow (an object with
 * "steps"), for claiming files. */
int flow_looks_like(const cJSON *doc);

#endif
