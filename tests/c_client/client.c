/*
 * A minimal client of the course's pipe protocol, written in C against the
 * byte layout alone (no code shared with the server). Used by
 * tests/server.rs to show that a C client works with `kvs` unchanged. It
 * opens all three FIFOs before reading the connect answer; the course's own
 * order is exercised by course_client.c.
 *
 * usage: client <register_fifo> <dir> <key> <wait_for_notifications>
 * Connects, subscribes to <key>, prints each response as
 * "<op> <result>", prints the first <wait_for_notifications> notifications
 * as "(key,value)", then disconnects.
 */
#include "pipes.h"

static void response(int resp, char expected_op) {
  char r[2];
  if (!read_all(resp, r, 2)) die("response pipe closed");
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
  const char *const names[3] = {"creq", "cresp", "cnotif"};
  connect_with_fifos(argv[1], argv[2], names, "", paths);

  /* All three pipes, then the answer. */
  int req = open(paths[0], O_WRONLY);
  int resp = open(paths[1], O_RDONLY);
  int notif = open(paths[2], O_RDONLY);
  if (req < 0 || resp < 0 || notif < 0) die("open pipes");
  response(resp, 1);

  send_key_request(req, 3, argv[3]);
  response(resp, 3);

  int wanted = atoi(argv[4]);
  for (int i = 0; i < wanted; i++) {
    char note[82];
    read_and_print_notification(notif, note);
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
