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
#include "pipes.h"

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
  send_key_request(req, 3, key);
  if (response(resp, 3, "subscribe") == 1) {
    for (;;) {
      char note[82];
      read_and_print_notification(notif, note);
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
  const char *const names[3] = {"req", "resp", "notif"};
  connect_with_fifos(argv[1], argv[2], names, argv[3], paths);

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
