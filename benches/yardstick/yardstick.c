/*
 * yardstick: the job-file experiment's C reference point (issue 14,
 * target 1). It runs a directory of .job files the way the course's
 * reference C server does, so that kvs's wall time can be compared with
 * that style of server on the same files:
 *
 *   - each job file is read ONE BYTE PER read(2) call;
 *   - one global hash table (chained, a fixed number of buckets) under one
 *     pthread reader-writer lock, held for a whole command (READ and SHOW
 *     read-locked, WRITE and DELETE write-locked), so every command is
 *     atomic;
 *   - N worker threads, each taking the next job file (sorted by name) until
 *     none is left; X.job writes X.out;
 *   - each command's output leaves in one write(2).
 *
 * It parses the job language of ../shared/SPEC.md exactly as kvs does
 * (src/job/parse.rs, the careful path) and prints the same bytes for
 * WRITE, READ, DELETE, SHOW, WAIT, HELP and invalid lines
 * (tests/yardstick.rs checks this against kvs).
 *
 * What it omits, since the measured workload does not use it: BACKUP is
 * written synchronously by the job's own thread (no fork, no limit on
 * backups in progress, no concurrency with the job); there is no server
 * mode, no named pipes, no notifications and no signal handling; the table
 * never grows (a store of a million keys makes chains of about four).
 *
 *   yardstick JOBS_DIR MAX_THREADS
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKEN 40
#define MAX_LINE (1 << 20)
#define BUCKETS (1u << 18)

static const char HELP_TEXT[] =
    "Available commands:\n"
    "  WRITE [(key,value),(key2,value2),...]\n"
    "  READ [key,key2,...]\n"
    "  DELETE [key,key2,...]\n"
    "  SHOW\n"
    "  WAIT <delay_ms>\n"
    "  BACKUP\n"
    "  HELP\n";

/* ---- bytes and tokens ------------------------------------------------ */

/* Whitespace as kvs counts it (Rust's is_ascii_whitespace: no \v). */
static int is_space(unsigned char b) {
    return b == ' ' || b == '\t' || b == '\n' || b == '\f' || b == '\r';
}

static int is_token_byte(unsigned char b) {
    return !is_space(b) && b != '(' && b != ')' && b != '[' && b != ']' && b != ',' &&
           b != 0 && b != '\v';
}

struct token {
    size_t len;
    char bytes[MAX_TOKEN];
};

static int make_token(const char *raw, size_t len, struct token *out) {
    if (len == 0 || len > MAX_TOKEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_token_byte((unsigned char)raw[i]))
            return 0;
    out->len = len;
    memcpy(out->bytes, raw, len);
    return 1;
}

/* Byte order; a prefix sorts first. */
static int token_cmp(const struct token *a, const struct token *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, n);
    if (c != 0)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

static int token_cmp_void(const void *a, const void *b) { return token_cmp(a, b); }

/* ---- output buffer --------------------------------------------------- */

struct buffer {
    char *data;
    size_t len, cap;
};

static void put(struct buffer *out, const void *bytes, size_t len) {
    if (out->len + len > out->cap) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap < out->len + len)
            cap *= 2;
        out->data = realloc(out->data, cap);
        if (!out->data) {
            perror("yardstick: realloc");
            exit(1);
        }
        out->cap = cap;
    }
    memcpy(out->data + out->len, bytes, len);
    out->len += len;
}

static void put_str(struct buffer *out, const char *text) { put(out, text, strlen(text)); }

static void put_token(struct buffer *out, const struct token *t) { put(out, t->bytes, t->len); }

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the buffer's bytes to fd in one write(2) and empties it. */
static void flush_to(int fd, struct buffer *out) {
    if (out->len > 0 && write_all(fd, out->data, out->len) != 0)
        perror("yardstick: write");
    out->len = 0;
}

/* ---- the store ------------------------------------------------------- */

struct entry {
    struct entry *next;
    struct token key, value;
};

static struct entry *table[BUCKETS];
static size_t entries;
static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;

static uint32_t bucket_of(const struct token *key) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < key->len; i++)
        h = (h ^ (unsigned char)key->bytes[i]) * 16777619u;
    return h & (BUCKETS - 1);
}

static struct entry **find_slot(const struct token *key) {
    struct entry **slot = &table[bucket_of(key)];
    while (*slot && token_cmp(&(*slot)->key, key) != 0)
        slot = &(*slot)->next;
    return slot;
}

/* Caller holds the write lock. */
static void store_write(const struct token *key, const struct token *value) {
    struct entry **slot = find_slot(key);
    if (*slot) {
        (*slot)->value = *value;
        return;
    }
    struct entry *e = malloc(sizeof *e);
    if (!e) {
        perror("yardstick: malloc");
        exit(1);
    }
    e->next = NULL;
    e->key = *key;
    e->value = *value;
    *slot = e;
    entries++;
}

/* Caller holds the write lock; 1 if the key was there. */
static int store_delete(const struct token *key) {
    struct entry **slot = find_slot(key);
    struct entry *e = *slot;
    if (!e)
        return 0;
    *slot = e->next;
    free(e);
    entries--;
    return 1;
}

static int entry_cmp(const void *a, const void *b) {
    const struct entry *const *x = a, *const *y = b;
    return token_cmp(&(*x)->key, &(*y)->key);
}

/* The store in SHOW format, ascending by key, read at one instant. */
static void show_into(struct buffer *out) {
    pthread_rwlock_rdlock(&table_lock);
    struct entry **all = malloc((entries + 1) * sizeof *all);
    size_t n = 0;
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct entry *e = table[b]; e; e = e->next)
            all[n++] = e;
    qsort(all, n, sizeof *all, entry_cmp);
    for (size_t i = 0; i < n; i++) {
        put_str(out, "(");
        put_token(out, &all[i]->key);
        put_str(out, ", ");
        put_token(out, &all[i]->value);
        put_str(out, ")\n");
    }
    pthread_rwlock_unlock(&table_lock);
    free(all);
}

/* ---- parsing (kvs's careful path, src/job/parse.rs) --------------- */

enum kind { SKIP, INVALID, WRITE, READ, DELETE, SHOW, BACKUP, HELP, WAIT };

struct command {
    enum kind kind;
    size_t count, cap; /* keys (READ, DELETE) or pairs (WRITE) */
    struct token *keys, *values;
    unsigned long long delay_ms;
};

static void push(struct command *c, const struct token *key, const struct token *value) {
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->keys = realloc(c->keys, c->cap * sizeof *c->keys);
        c->values = realloc(c->values, c->cap * sizeof *c->values);
        if (!c->keys || !c->values) {
            perror("yardstick: realloc");
            exit(1);
        }
    }
    c->keys[c->count] = *key;
    if (value)
        c->values[c->count] = *value;
    c->count++;
}

/* The inside of `[...]` of a READ or DELETE: tokens split by commas. */
static int parse_keys(const char *body, size_t len, struct command *c) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || body[i] == ',') {
            struct token key;
            if (!make_token(body + start, i - start, &key))
                return 0;
            push(c, &key, NULL);
            start = i + 1;
        }
    }
    return 1;
}

/* The inside of a WRITE's `[...]`: `(k,v)` pairs, back to back or with one
 * comma between them. */
static int parse_pairs(const char *body, size_t len, struct command *c) {
    for (;;) {
        if (len == 0 || body[0] != '(')
            return 0;
        const char *inside = body + 1;
        const char *close = memchr(inside, ')', len - 1);
        if (!close)
            return 0;
        size_t pair_len = (size_t)(close - inside);
        const char *comma = memchr(inside, ',', pair_len);
        struct token key, value;
        if (!comma || !make_token(inside, (size_t)(comma - inside), &key) ||
            !make_token(comma + 1, pair_len - (size_t)(comma - inside) - 1, &value))
            return 0;
        push(c, &key, &value);
        body = close + 1;
        len = (size_t)(inside + len - 1 - body);
        if (len == 0)
            return 1;
        if (body[0] == ',' && len > 1) {
            body++;
            len--;
        }
    }
}

/* `rest` after a list command's word: optional whitespace, `[`, a
 * non-empty body, `]` (the line's end). */
static int parse_list(const char *rest, size_t len, struct command *c, int pairs) {
    while (len > 0 && is_space((unsigned char)rest[0])) {
        rest++;
        len--;
    }
    if (len < 2 || rest[0] != '[' || rest[len - 1] != ']' || len == 2)
        return 0;
    return pairs ? parse_pairs(rest + 1, len - 2, c) : parse_keys(rest + 1, len - 2, c);
}

static int parse_delay(const char *rest, size_t len, unsigned long long *ms) {
    if (len == 0 || !is_space((unsigned char)rest[0]))
        return 0;
    while (len > 0 && is_space((unsigned char)rest[0])) {
        rest++;
        len--;
    }
    if (len == 0)
        return 0;
    unsigned long long value = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned char)rest[i] - '0';
        if (digit > 9 || value > (UINT64_MAX - digit) / 10)
            return 0;
        value = value * 10 + digit;
    }
    *ms = value;
    return 1;
}

static int word_is(const char *word, size_t len, const char *name) {
    return len == strlen(name) && memcmp(word, name, len) == 0;
}

static void parse_line(const char *line, size_t len, struct command *c) {
    c->count = 0;
    while (len > 0 && is_space((unsigned char)line[0])) {
        line++;
        len--;
    }
    while (len > 0 && is_space((unsigned char)line[len - 1]))
        len--;
    if (len == 0 || line[0] == '#') {
        c->kind = SKIP;
        return;
    }
    size_t word = 0;
    while (word < len && line[word] != '[' && !is_space((unsigned char)line[word]))
        word++;
    const char *rest = line + word;
    size_t rest_len = len - word;
    int ok;
    if (word_is(line, word, "WRITE"))
        c->kind = WRITE, ok = parse_list(rest, rest_len, c, 1);
    else if (word_is(line, word, "READ"))
        c->kind = READ, ok = parse_list(rest, rest_len, c, 0);
    else if (word_is(line, word, "DELETE"))
        c->kind = DELETE, ok = parse_list(rest, rest_len, c, 0);
    else if (word_is(line, word, "SHOW"))
        c->kind = SHOW, ok = rest_len == 0;
    else if (word_is(line, word, "BACKUP"))
        c->kind = BACKUP, ok = rest_len == 0;
    else if (word_is(line, word, "HELP"))
        c->kind = HELP, ok = rest_len == 0;
    else if (word_is(line, word, "WAIT"))
        c->kind = WAIT, ok = parse_delay(rest, rest_len, &c->delay_ms);
    else
        ok = 0;
    if (!ok)
        c->kind = INVALID;
}

/* ---- executing ------------------------------------------------------- */

struct job {
    int out_fd;
    const char *path; /* of the .job file */
    unsigned backups;
    struct buffer out;
    struct command command;
};

static void run_write(struct command *c) {
    pthread_rwlock_wrlock(&table_lock);
    for (size_t i = 0; i < c->count; i++)
        store_write(&c->keys[i], &c->values[i]);
    pthread_rwlock_unlock(&table_lock);
}

static void run_read(struct command *c, struct buffer *out) {
    qsort(c->keys, c->count, sizeof *c->keys, token_cmp_void);
    put_str(out, "[");
    pthread_rwlock_rdlock(&table_lock);
    for (size_t i = 0; i < c->count; i++) {
        struct entry *e = *find_slot(&c->keys[i]);
        put_str(out, "(");
        put_token(out, &c->keys[i]);
        put_str(out, ",");
        if (e)
            put_token(out, &e->value);
        else
            put_str(out, "KVSERROR");
        put_str(out, ")");
    }
    pthread_rwlock_unlock(&table_lock);
    put_str(out, "]\n");
}

static void run_delete(struct command *c, struct buffer *out) {
    qsort(c->keys, c->count, sizeof *c->keys, token_cmp_void);
    size_t missing = 0;
    pthread_rwlock_wrlock(&table_lock);
    for (size_t i = 0; i < c->count; i++) {
        if (store_delete(&c->keys[i]))
            continue;
        put_str(out, missing++ == 0 ? "[(" : "(");
        put_token(out, &c->keys[i]);
        put_str(out, ",KVSMISSING)");
    }
    pthread_rwlock_unlock(&table_lock);
    if (missing > 0)
        put_str(out, "]\n");
}

static void run_wait(struct job *job, unsigned long long ms) {
    if (ms == 0)
        return;
    put_str(&job->out, "Waiting...\n");
    flush_to(job->out_fd, &job->out);
    struct timespec pause = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* The n-th BACKUP of X.job: X-n.bck in SHOW format, written beside it as a
 * temporary file and renamed, so no reader sees a partial backup. */
static void run_backup(struct job *job) {
    unsigned n = ++job->backups;
    size_t stem = strlen(job->path) - strlen(".job");
    char final_path[4096], temp_path[4200];
    snprintf(final_path, sizeof final_path, "%.*s-%u.bck", (int)stem, job->path, n);
    snprintf(temp_path, sizeof temp_path, "%s.tmp", final_path);
    struct buffer text = {0};
    show_into(&text);
    int fd = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int failed = fd < 0 || write_all(fd, text.data, text.len) != 0;
    if (fd >= 0 && close(fd) != 0)
        failed = 1;
    if (failed || rename(temp_path, final_path) != 0) {
        unlink(temp_path);
        fputs("Failed to perform backup.\n", stderr);
    }
    free(text.data);
}

static void execute(struct job *job) {
    struct command *c = &job->command;
    switch (c->kind) {
    case SKIP:
        return;
    case INVALID:
        fputs("Invalid command. See HELP for usage\n", stderr);
        return;
    case WRITE:
        run_write(c);
        return;
    case READ:
        run_read(c, &job->out);
        break;
    case DELETE:
        run_delete(c, &job->out);
        break;
    case SHOW:
        show_into(&job->out);
        break;
    case HELP:
        put_str(&job->out, HELP_TEXT);
        break;
    case WAIT:
        run_wait(job, c->delay_ms);
        return;
    case BACKUP:
        run_backup(job);
        return;
    }
    flush_to(job->out_fd, &job->out);
}

/* Reads the job a byte per read(2), running each line as it ends. */
static void run_job(const char *path) {
    int in = open(path, O_RDONLY);
    char out_path[4096];
    snprintf(out_path, sizeof out_path, "%.*s.out", (int)(strlen(path) - strlen(".job")), path);
    int out = in < 0 ? -1 : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) {
        fprintf(stderr, "yardstick: cannot run %s: %s\n", path, strerror(errno));
        if (in >= 0)
            close(in);
        return;
    }
    struct job job = {.out_fd = out, .path = path};
    char *line = malloc(MAX_LINE);
    size_t len = 0;
    int too_long = 0, at_end = 0;
    while (!at_end) {
        char byte;
        ssize_t n = read(in, &byte, 1);
        if (n < 0 && errno == EINTR)
            continue;
        at_end = n <= 0;
        if (!at_end && byte != '\n') {
            if (len < MAX_LINE)
                line[len++] = byte;
            else
                too_long = 1;
            continue;
        }
        if (at_end && len == 0 && !too_long)
            break;
        if (too_long)
            job.command.kind = INVALID;
        else
            parse_line(line, len, &job.command);
        execute(&job);
        len = 0;
        too_long = 0;
    }
    free(line);
    free(job.out.data);
    free(job.command.keys);
    free(job.command.values);
    close(in);
    close(out);
}

/* ---- the job files and the workers ------------------------------------ */

static char **jobs;
static size_t job_count, next_job;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_jobs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "yardstick: cannot read the jobs directory %s: %s\n", dir,
                strerror(errno));
        exit(1);
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".job") != 0)
            continue;
        char *path;
        struct stat meta;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            exit(1);
        if (stat(path, &meta) != 0 || !S_ISREG(meta.st_mode)) {
            free(path);
            continue;
        }
        if (job_count == cap) {
            cap = cap ? cap * 2 : 16;
            jobs = realloc(jobs, cap * sizeof *jobs);
        }
        jobs[job_count++] = path;
    }
    closedir(d);
    qsort(jobs, job_count, sizeof *jobs, name_cmp);
}

static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&next_lock);
        size_t index = next_job++;
        pthread_mutex_unlock(&next_lock);
        if (index >= job_count)
            return NULL;
        run_job(jobs[index]);
    }
}

int main(int argc, char **argv) {
    char *end;
    long threads = argc == 3 ? strtol(argv[2], &end, 10) : 0;
    if (argc != 3 || *end != '\0' || threads <= 0 || threads > 1024) {
        fputs("usage: yardstick JOBS_DIR MAX_THREADS\n", stderr);
        return 2;
    }
    find_jobs(argv[1]);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    for (long i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, worker, NULL) != 0) {
            perror("yardstick: pthread_create");
            return 1;
        }
    for (long i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    free(ids);
    return 0;
}
