/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - main() for fuzz targets built without libFuzzer: runs
 * every file named on the command line, or found (sorted) in a directory
 * named there, through LLVMFuzzerTestOneInput() once. A missing or empty
 * corpus fails: a regression test that replays nothing proves nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus files are small seeds; a bigger one is a mistake in the corpus. */
#define REPLAY_MAX_FILE_OCTETS	(64 * 1024 * 1024)

/* Reads the whole file and runs it. Returns 0 or -errno. */
static int
replay_file(const char *path)
{
	struct stat	 st;
	uint8_t		*data;
	size_t		 n;
	FILE		*fp;
	int		 error = 0;

	if ((fp = fopen(path, "rb")) == NULL)
		return -errno;
	if (fstat(fileno(fp), &st) == -1) {
		error = -errno;
		fclose(fp);
		return error;
	}
	if (st.st_size > REPLAY_MAX_FILE_OCTETS) {
		fclose(fp);
		return -EFBIG;
	}
	/* One extra byte: malloc(0) may return NULL for an empty file. */
	if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(fp);
		return -ENOMEM;
	}
	n = fread(data, 1, (size_t)st.st_size, fp);
	if (ferror(fp))
		error = -EIO;
	fclose(fp);
	if (error == 0)
		LLVMFuzzerTestOneInput(data, n);
	free(data);
	return error;
}

static int
replay_select_all(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Runs dir/name if it is a regular file, counting it. */
static int
replay_dir_entry(const char *dir, const char *name, size_t *count)
{
	struct stat	 st;
	char		*path;
	int		 error = 0;

	if (asprintf(&path, "%s/%s", dir, name) == -1)
		return -ENOMEM;
	if (stat(path, &st) == -1)
		error = -errno;
	else if (S_ISREG(st.st_mode) && (error = replay_file(path)) == 0)
		(*count)++;
	if (error != 0)
		fprintf(stderr, "%s: %s\n", path, strerror(-error));
	free(path);
	return error;
}

/* Runs every regular file in dir, in name order. Returns 0 or -errno. */
static int
replay_dir(const char *dir, size_t *count)
{
	struct dirent	**names;
	int		  i, n, error = 0;

	if ((n = scandir(dir, &names, replay_select_all, alphasort)) == -1)
		return -errno;
	for (i = 0; i < n; i++) {
		if (error == 0)
			error = replay_dir_entry(dir, names[i]->d_name, count);
		free(names[i]);
	}
	free(names);
	return error;
}

int
main(int argc, char *argv[])
{
	struct stat	st;
	size_t		count = 0, before;
	int		i, error;

	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir-or-file ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			before = count;
			error = replay_dir(argv[i], &count);
			if (error == 0 && count == before) {
				fprintf(stderr, "%s: empty corpus\n", argv[i]);
				return 1;
			}
		} else {
			error = replay_file(argv[i]);
			if (error == 0)
				count++;
		}
		if (error != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(-error));
			return 1;
		}
	}
	printf("replayed %zu inputs\n", count);
	return 0;
}
