/* Shards: which of a job's selected tasks this run takes (DESIGN.md,
 * "Scale beyond one machine").  The shard comes from --shard K/N or from
 * the contract of the engine that runs nrunner (--shard auto); the split
 * is by position, or by a previous run's durations (--balance).  Every
 * shard computes the same split from the same input. */
#ifndef NR_SHARD_H
#define NR_SHARD_H

#include <stddef.h>

typedef struct nrc_shard {
	unsigned long k, n;      /* 1-based; n == 0: the whole job */
	char label[48];          /* "K/N", for results.json */
	const char *source;      /* "--shard", or the engine's variables */
	const char *status_file; /* Bazel's TEST_SHARD_STATUS_FILE, or NULL */
} nrc_shard;

/* arg is --shard's value ("K/N" or "auto"), or NULL when the option was
 * not given: Bazel's TEST_TOTAL_SHARDS then still shards, as its contract
 * asks.  Returns 0, or -1 with one line in err. */
int nrc_shard_parse(const char *arg, nrc_shard *out, char *err, size_t errlen);

/* Tells the engine that this program shards (Bazel: touches
 * TEST_SHARD_STATUS_FILE).  Returns 0, or -1 with one line in err. */
int nrc_shard_ack(const nrc_shard *s, char *err, size_t errlen);

/* Sets take[i] for the tasks of this shard among the n selected ones
 * (ids: their identifiers, in input order).  Without balance, shard K
 * takes positions K, K+N, ...  With balance (a results.json), tasks are
 * packed longest first onto the least loaded shard; identifiers that the
 * file does not hold count as the median, with a notice on stderr.
 * Returns 0, or -1 with one line in err. */
int nrc_shard_assign(const nrc_shard *s, const char *const *ids, size_t n,
		    const char *balance, unsigned char *take, char *err,
		    size_t errlen);

/* The packing alone, for the simulation benchmark: assigns each of n
 * durations to one of shards bins (bin[i], 0-based). */
void nrc_shard_pack(const double *dur, size_t n, unsigned long shards,
		   unsigned long *bin);

#endif
