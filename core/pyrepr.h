/* A status message as a Python literal (repr of a dict), the form in
 * which Avocado's runners print their messages on stdout. */
#ifndef NRC_PYREPR_H
#define NRC_PYREPR_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* msg as Python's repr() would print the dict, the output in "log" as
 * bytes (decoded when "encoding" is base64; "encoding" itself is left
 * out), and a newline; its length in *len. */
char *nrc_python_repr_line(const cJSON *msg, size_t *len);

#endif
