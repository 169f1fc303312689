/* nrunner's usage texts (usage.c), for main.c. */
#ifndef NR_USAGE_H
#define NR_USAGE_H

extern const char nrc_usage_main[];
/* Under the name avocado-runner-KIND (printf: name, kind, kind). */
extern const char nrc_usage_runner[];
extern const char nrc_usage_list_kinds[];
extern const char nrc_usage_capabilities[];
extern const char nrc_usage_runnable_run[];
extern const char nrc_usage_runnable_run_recipe[];
extern const char nrc_usage_task_run[];
extern const char nrc_usage_task_run_recipe[];
extern const char nrc_usage_run[];
extern const char nrc_usage_report[];
extern const char nrc_usage_status_server[];
extern const char nrc_usage_clean[];
extern const char nrc_usage_cache[];

#endif
