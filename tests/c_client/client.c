/*
 * A minimal client of the course's pipe protocol, written in C against the
 * byte layout alone (no code shared with the server). Used by
 * tests/c_client.rs to show that a C client works with `kvs` unchanged.
 *
 * usage: client <register_fifo> <dir> <key> <wait_for_notifications>
 * Connects, subscribes to <key>, prints each response as
 * "<op> <result>", prints the first <wait_for_notifications> notifications
 * as "(key,value)", then disconnects.
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

static void read_all(int fd, char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read");
    done += (size_t)n;
  }
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

static void response(int resp, char expected_op) {
  char r[2];
  read_all(resp, r, 2);
  if (r[0] != expected_op) {
    fprintf(stderr, "unexpected opcode %d\n", r[0]);
    exit(1);
  }
  printf("%d %d\n", r[0], r[1]);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: client <register_fifo> <dir> <key> <n>\n");
    return 2;
  }
  char paths[3][40];
  const char *names[3] = {"creq", "cresp", "cnotif"};
  for (int i = 0; i < 3; i++) {
    memset(paths[i], 0, sizeof paths[i]);
    snprintf(paths[i], sizeof paths[i], "%s/%s", argv[2], names[i]);
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

  /* The course's client opens its pipes in this order. */
  int req = open(paths[0], O_WRONLY);
  int resp = open(paths[1], O_RDONLY);
  int notif = open(paths[2], O_RDONLY);
  if (req < 0 || resp < 0 || notif < 0) die("open pipes");
  response(resp, 1);

  char subscribe[42];
  memset(subscribe, 0, sizeof subscribe);
  subscribe[0] = 3;
  strncpy(subscribe + 1, argv[3], 40);
  write_all(req, subscribe, sizeof subscribe);
  response(resp, 3);

  int wanted = atoi(argv[4]);
  for (int i = 0; i < wanted; i++) {
    char note[82];
    read_all(notif, note, sizeof note);
    note[40] = 0;
    note[81] = 0;
    printf("(%s,%s)\n", note, note + 41);
    fflush(stdout);
  }

  char disconnect = 2;
  write_all(req, &disconnect, 1);
  response(resp, 2);
  close(req);
  close(resp);
  close(notif);
  for (int i = 0; i < 3; i++) unlink(paths[i]);
  return 0;
}
