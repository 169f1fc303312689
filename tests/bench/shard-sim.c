/* A simulation of shards: 10,000 tests with log-normal durations (median
 * 1 s, sigma 1.2: most tests are short, a few take minutes), cut into 8,
 * 32 and 128 shards by count (--shard K/N) and by --balance (the packing
 * nrunner uses, fed the same durations).  Prints, per cut, the slowest
 * shard against the mean shard: 1.00 is the floor, shards that finish
 * together.  The last column packs by a previous run's durations while
 * the tests take other times this run (each off by a log-normal factor,
 * sigma 0.25), as real reruns do.  Runs with a few seeds and prints the
 * medians. */
#include "shard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define NTESTS 10000
#define SEEDS 5

static unsigned long long rng_state;

static double uniform(void)
{
	/* splitmix64 */
	unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double lognormal(double mu, double sigma)
{
	double u1 = uniform(), u2 = uniform();
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
	return exp(mu + sigma * z);
}

static double slowest_over_mean(const double *dur, const unsigned long *bin,
				size_t n, unsigned long shards)
{
	double *load = calloc(shards, sizeof *load), total = 0, max = 0;
	for (size_t i = 0; i < n; i++) {
		load[bin[i]] += dur[i];
		total += dur[i];
	}
	for (unsigned long b = 0; b < shards; b++)
		if (load[b] > max)
			max = load[b];
	free(load);
	return max / (total / (double)shards);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	static const unsigned long cuts[] = {8, 32, 128};
	double *dur = calloc(NTESTS, sizeof *dur);
	double *now = calloc(NTESTS, sizeof *now);
	unsigned long *bin = calloc(NTESTS, sizeof *bin);
	printf("shard-sim: %d tests, log-normal durations (median 1 s, sigma 1.2), "
	       "median of %d seeds\n", NTESTS, SEEDS);
	printf("%8s %20s %20s %24s\n", "shards", "by count: max/mean",
	       "--balance: max/mean", "--balance, noisy rerun");
	for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
		unsigned long shards = cuts[c];
		double by_count[SEEDS], balanced[SEEDS], noisy[SEEDS];
		for (int s = 0; s < SEEDS; s++) {
			rng_state = 0x5eed0000ULL + (unsigned long long)s;
			for (size_t i = 0; i < NTESTS; i++)
				dur[i] = lognormal(0, 1.2);
			for (size_t i = 0; i < NTESTS; i++)
				bin[i] = i % shards;
			by_count[s] = slowest_over_mean(dur, bin, NTESTS, shards);
			nrc_shard_pack(dur, NTESTS, shards, bin);
			balanced[s] = slowest_over_mean(dur, bin, NTESTS, shards);
			for (size_t i = 0; i < NTESTS; i++)
				now[i] = dur[i] * lognormal(0, 0.25);
			noisy[s] = slowest_over_mean(now, bin, NTESTS, shards);
		}
		qsort(by_count, SEEDS, sizeof *by_count, cmp);
		qsort(balanced, SEEDS, sizeof *balanced, cmp);
		qsort(noisy, SEEDS, sizeof *noisy, cmp);
		printf("%8lu %20.3f %20.3f %24.3f\n", shards, by_count[SEEDS / 2],
		       balanced[SEEDS / 2], noisy[SEEDS / 2]);
	}
	free(dur);
	free(now);
	free(bin);
	return 0;
}
