/*
 * What the C test clients share: whole reads and writes on pipes, and the
 * connect request of the course's protocol (opcode 1, then the request,
 * response and notification FIFO paths, each NUL-padded to 40 bytes).
 * Written against the byte layout alone, with no code from the server.
 */
#ifndef KVS_TEST_PIPES_H
#define KVS_TEST_PIPES_H

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

/*
 * Makes the FIFOs <dir>/<names[i]><suffix> (request, response,
 * notification) into paths, and sends the connect request naming them on
 * the register FIFO (a blocking open, as the course's client does).
 */
static void connect_with_fifos(const char *register_path, const char *dir,
                               const char *const names[3], const char *suffix,
                               char paths[3][40]) {
  for (int i = 0; i < 3; i++) {
    memset(paths[i], 0, 40);
    snprintf(paths[i], 40, "%s/%s%s", dir, names[i], suffix);
    unlink(paths[i]);
    if (mkfifo(paths[i], 0600) != 0) die("mkfifo");
  }
  char request[121];
  request[0] = 1;
  for (int i = 0; i < 3; i++) memcpy(request + 1 + 40 * i, paths[i], 40);
  int server = open(register_path, O_WRONLY);
  if (server < 0) die("open register");
  write_all(server, request, sizeof request);
  close(server);
}

/* Sends a subscribe (3) or unsubscribe (4) request for key. */
static void send_key_request(int req, char op, const char *key) {
  char message[42];
  memset(message, 0, sizeof message);
  message[0] = op;
  strncpy(message + 1, key, 40);
  write_all(req, message, sizeof message);
}

/*
 * Reads one notification (key[41] | value[41]) into note, NUL-terminates
 * both fields, and prints it as "(key,value)".
 */
static void read_and_print_notification(int notif, char note[82]) {
  if (!read_all(notif, note, 82)) die("notification pipe closed");
  note[40] = 0;
  note[81] = 0;
  printf("(%s,%s)\n", note, note + 41);
  fflush(stdout);
}

#endif
