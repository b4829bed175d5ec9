/*
 * gpiolat: measures edge -> rule -> output latency through a running Ganglion, for the VM
 * benchmark.
 *
 *   gpiolat IN_PULL_FILE OUT_VALUE_FILE ROUNDS
 *
 * Each round: reads the time (CLOCK_MONOTONIC) and writes "pull-up" to the input line's
 * gpio-sim `pull` attribute (the write raises the edge interrupt, so this is the kernel's edge
 * time to within the write), then reads the output line's `value` attribute in a tight loop
 * until it says 1 (the rule drove the output); then the same for pull-down and 0. Prints one
 * latency per edge in microseconds, then "p50 ... p99 ... max ..." over all of them.
 * Rounds that wait more than a second are counted as lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int compare(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: gpiolat IN_PULL_FILE OUT_VALUE_FILE ROUNDS\n");
    return 1;
  }
  int in = open(argv[1], O_WRONLY);
  int out = open(argv[2], O_RDONLY);
  if (in < 0 || out < 0) {
    fprintf(stderr, "gpiolat: cannot open the sim files: %s\n", strerror(errno));
    return 1;
  }
  long rounds = atol(argv[3]);
  long long *latency = calloc(rounds * 2, sizeof(long long));
  long count = 0, lost = 0;
  for (long i = 0; i < rounds * 2; i++) {
    int level = i % 2 == 0;
    const char *text = level ? "pull-up" : "pull-down";
    long long start = now_us();
    if (pwrite(in, text, strlen(text), 0) < 0) {
      fprintf(stderr, "gpiolat: write: %s\n", strerror(errno));
      return 1;
    }
    char buffer[8];
    for (;;) {
      ssize_t n = pread(out, buffer, sizeof buffer, 0);
      if (n > 0 && buffer[0] == (level ? '1' : '0')) {
        latency[count++] = now_us() - start;
        break;
      }
      if (now_us() - start > 1000000) {
        lost++;
        break;
      }
    }
    struct timespec pause = {0, 2000000};  // 2 ms between edges: no overlap of rounds
    nanosleep(&pause, NULL);
  }
  qsort(latency, count, sizeof(long long), compare);
  if (count == 0) {
    printf("gpiolat: no output change seen (%ld lost)\n", lost);
    return 1;
  }
  printf("gpiolat: %ld edges, p50 %lld us, p99 %lld us, max %lld us, lost %ld\n", count, latency[count / 2],
         latency[count * 99 / 100], latency[count - 1], lost);
  return 0;
}
