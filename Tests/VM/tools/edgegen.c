/*
 * edgegen: drives a gpio-sim input line with paced edges, for Ganglion's VM tests.
 *
 *   edgegen PULL_FILE EDGES INTERVAL_US [FIRST]
 *
 * Writes "pull-up" and "pull-down" alternately to PULL_FILE (a gpio-sim line's `pull`
 * attribute, e.g. /sys/devices/platform/gpio-sim.0/gpiochip0/sim_gpio5/pull), EDGES times,
 * one every INTERVAL_US microseconds on an absolute CLOCK_MONOTONIC schedule (so a late
 * write does not push the rest back). FIRST is "up" (default) or "down": the first edge.
 * A shell loop cannot pace edges closer than a process start (~10 ms in the VM); this can.
 * Prints "edgegen: N edges in T us" and exits 0, or a reason and 1.
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

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: edgegen PULL_FILE EDGES INTERVAL_US [up|down]\n");
    return 1;
  }
  long edges = atol(argv[2]);
  long interval = atol(argv[3]);
  int up = argc < 5 || strcmp(argv[4], "down") != 0;
  int fd = open(argv[1], O_WRONLY);
  if (fd < 0) {
    fprintf(stderr, "edgegen: cannot open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  long long start = now_us();
  for (long i = 0; i < edges; i++) {
    const char *text = up ? "pull-up" : "pull-down";
    if (pwrite(fd, text, strlen(text), 0) < 0) {
      fprintf(stderr, "edgegen: write %s: %s\n", argv[1], strerror(errno));
      return 1;
    }
    up = !up;
    next.tv_nsec += interval * 1000L;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec += 1;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  printf("edgegen: %ld edges in %lld us\n", edges, now_us() - start);
  return 0;
}
