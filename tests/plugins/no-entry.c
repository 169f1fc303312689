/* A shared object without nr_plugin_entry: not a plugin. */
int not_a_plugin(void);
int not_a_plugin(void) { return 42; }
