/*
 * fuzz_keys.c - the key-state file reader: the input becomes
 * keys.state in a scratch directory (on tmpfs when there is one, where
 * fsync costs nothing), the state is loaded and each key's state read
 * back, then updated as gb-call does: a key taken for a model, a
 * cooldown for that model, another key taken. A canonical file (the
 * corpus has one) takes the path that reads and writes single records;
 * any other is read whole and rewritten.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "io.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char *keyv[] = { "key-one-0123456789", "key-two-0123456789",
	    "k3" };
	struct gb_config cfg;
	struct gb_keys *k;
	struct gb_err err;
	char path[96];
	size_t i, n;
	time_t t;
	int fd, idx;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/gb-fuzz-keys.%ld",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		    (long)getpid());
		(void)mkdir(dir, 0700);
	}
	snprintf(path, sizeof(path), "%s/keys.state", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (gb_io_writeall(fd, data, len) == -1)
		abort();
	close(fd);

	memset(&cfg, 0, sizeof(cfg));
	cfg.api_keys.v = keyv;
	cfg.api_keys.n = 3;
	cfg.state_dir = dir;
	cfg.max_failures = 3;
	cfg.key_cooldown = 60;
	if ((k = gb_keys_open(&cfg, &err)) == NULL)
		return 0;
	if (gb_keys_load(k, &err) == 0)
		for (i = 0; i < gb_keys_count(k); i++) {
			(void)gb_keys_state(gb_keys_info(k, i), time(NULL));
			(void)gb_keys_cools(k, i, &n);
		}
	gb_keys_set_wait(k, 0);
	if ((idx = gb_keys_next_for(k, "m", NULL, 0, &t, &err)) >= 0)
		(void)gb_keys_cool(k, (size_t)idx, "m", time(NULL) + 60, 429,
		    "quota", &err);
	(void)gb_keys_next_for(k, "m", NULL, 0, &t, &err);
	gb_keys_close(k);
	return 0;
}
