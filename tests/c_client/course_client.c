/*
 * A client of the course's pipe protocol, written in C against the byte
 * layout alone (no code shared with the server), that opens its three FIFOs
 * in an order given on the command line, with blocking opens, as a C client
 * does. The course's own client uses the order "resp,answer,req,notif": it
 * opens its response FIFO, reads the connect answer, and only then opens
 * its request FIFO and its notification FIFO.
 *
 * usage: course_client <register_fifo> <dir> <tag> <steps> <then> [key]
 *
 *   steps  comma-separated, in order: req, resp, notif (open that FIFO),
 *          answer (read the 2-byte connect answer; needs resp first)
 *   then   session: subscribe to <key>, print each notification until
 *                   (<key>,DELETED), disconnect
 *          linger:  wait until the server closes the response FIFO
 *          vanish:  exit at once
 *
 * Prints "connect <result>", "subscribe <result>", "(key,value)" per
 * notification, "disconnect <result>", and "closed" when the server closes
 * the response FIFO. Exits 1 on any unexpected error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* Reads exactly len bytes; returns 0 on end-of-file before any byte. */
static int read_all(int fd, char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && done == 0) return 0;
    if (n <= 0) die("read");
    done += (size_t)n;
  }
  return 1;
}

static void write_all(int fd, const char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("write");
    done += (size_t)n;
  }
}

static int response(int resp, char expected_op, const char *name) {
  char r[2];
  if (!read_all(resp, r, 2)) {
    printf("closed\n");
    fflush(stdout);
    exit(0);
  }
  if (r[0] != expected_op) {
    fprintf(stderr, "unexpected opcode %d\n", r[0]);
    exit(1);
  }
  printf("%s %d\n", name, r[1]);
  fflush(stdout);
  return r[1];
}

static void session(int req, int resp, int notif, const char *key) {
  char subscribe[42];
  memset(subscribe, 0, sizeof subscribe);
  subscribe[0] = 3;
  strncpy(subscribe + 1, key, 40);
  write_all(req, subscribe, sizeof subscribe);
  if (response(resp, 3, "subscribe") == 1) {
    for (;;) {
      char note[82];
      if (!read_all(notif, note, sizeof note)) die("notification pipe closed");
      note[40] = 0;
      note[81] = 0;
      printf("(%s,%s)\n", note, note + 41);
      fflush(stdout);
      if (strcmp(note, key) == 0 && strcmp(note + 41, "DELETED") == 0) break;
    }
  }
  char disconnect = 2;
  write_all(req, &disconnect, 1);
  response(resp, 2, "disconnect");
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: course_client <register> <dir> <tag> <steps> <then> [key]\n");
    return 2;
  }
  char paths[3][40];
  const char *names[3] = {"req", "resp", "notif"};
  for (int i = 0; i < 3; i++) {
    memset(paths[i], 0, sizeof paths[i]);
    snprintf(paths[i], sizeof paths[i], "%s/%s%s", argv[2], names[i], argv[3]);
    unlink(paths[i]);
    if (mkfifo(paths[i], 0600) != 0) die("mkfifo");
  }
  char request[121];
  request[0] = 1;
  memcpy(request + 1, paths[0], 40);
  memcpy(request + 41, paths[1], 40);
  memcpy(request + 81, paths[2], 40);
  int server = open(argv[1], O_WRONLY);
  if (server < 0) die("open register");
  write_all(server, request, sizeof request);
  close(server);

  int req = -1, resp = -1, notif = -1;
  char steps[64];
  snprintf(steps, sizeof steps, "%s", argv[4]);
  for (char *step = strtok(steps, ","); step != NULL; step = strtok(NULL, ",")) {
    if (strcmp(step, "req") == 0) {
      if ((req = open(paths[0], O_WRONLY)) < 0) die("open req");
    } else if (strcmp(step, "resp") == 0) {
      if ((resp = open(paths[1], O_RDONLY)) < 0) die("open resp");
    } else if (strcmp(step, "notif") == 0) {
      if ((notif = open(paths[2], O_RDONLY)) < 0) die("open notif");
    } else if (strcmp(step, "answer") == 0) {
      if (response(resp, 1, "connect") != 0) return 0;
    } else {
      fprintf(stderr, "unknown step %s\n", step);
      return 2;
    }
  }

  if (strcmp(argv[5], "session") == 0 && argc == 7) {
    session(req, resp, notif, argv[6]);
  } else if (strcmp(argv[5], "linger") == 0) {
    char byte;
    while (read(resp, &byte, 1) > 0) {
    }
    printf("closed\n");
    fflush(stdout);
  } else if (strcmp(argv[5], "vanish") != 0) {
    fprintf(stderr, "unknown ending %s\n", argv[5]);
    return 2;
  }
  for (int i = 0; i < 3; i++) unlink(paths[i]);
  return 0;
}
