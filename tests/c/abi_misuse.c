/*
 * Misuses the C ABI on purpose and checks every answer: NULL arguments, bad
 * configs, bad arguments, double stop, calls after stop, stop from another
 * thread waking blocked polls, and many start/free cycles. Run under
 * AddressSanitizer (tests/c/test.sh): besides its own checks, it must have
 * no memory error and no leak.
 *
 * Needs no container: the captures read only names nobody uses. Prints one
 * line per check group and exits non-zero on the first failure.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_capturer.h"

#define IDLE_CONFIG "{\"include_containers\": [\"lct-no-such-container-\"], \"log_level\": \"off\"}"

static int checks;

#define CHECK(cond)                                                                \
    do {                                                                           \
        checks++;                                                                  \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The last error of capture (NULL: of the last failed start), in buf. */
static const char *last_error(const capture_handle *capture, char *buf, size_t len)
{
    size_t n = capture_last_error(capture, buf, len);
    CHECK(strlen(buf) == (n < len ? n : len - 1));
    return buf;
}

static capture_handle *start_idle(void)
{
    capture_handle *capture = NULL;
    CHECK(capture_start(IDLE_CONFIG, &capture) == CAPTURE_OK);
    CHECK(capture != NULL);
    return capture;
}

static void static_strings(void)
{
    CHECK(capture_version() != NULL && strchr(capture_version(), '.') != NULL);
    const int32_t codes[] = { 0, 1, 2, 3, 4, 5, 6, 7, 99 };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *m = capture_result_message(codes[i]);
        CHECK(m != NULL && *m != '\0' && strcmp(m, "unknown result code") != 0);
    }
    CHECK(strcmp(capture_result_message(-1), "unknown result code") == 0);
    CHECK(strcmp(capture_result_message(1000), "unknown result code") == 0);
    puts("ok: version and result messages");
}

static void bad_starts(void)
{
    char buf[512];
    capture_handle *capture = (capture_handle *)&buf; /* must be left as it was */
    capture_handle *const sentinel = capture;

    CHECK(capture_start(NULL, &capture) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture == sentinel);
    CHECK(strstr(last_error(NULL, buf, sizeof buf), "NULL") != NULL);
    CHECK(capture_start("{}", NULL) == CAPTURE_ERR_NULL_ARGUMENT);

    CHECK(capture_start("{\"rotation_intreval\": \"5m\"}", &capture) == CAPTURE_ERR_INVALID_CONFIG);
    CHECK(capture == sentinel);
    CHECK(strstr(last_error(NULL, buf, sizeof buf), "rotation_intreval") != NULL);
    CHECK(capture_start("{\"read_timeout\": \"-5s\"}", &capture) == CAPTURE_ERR_INVALID_CONFIG);
    CHECK(strstr(last_error(NULL, buf, sizeof buf), "read_timeout") != NULL);
    CHECK(capture_start("not json", &capture) == CAPTURE_ERR_INVALID_CONFIG);
    CHECK(capture_start("", &capture) == CAPTURE_ERR_INVALID_CONFIG);
    CHECK(capture_start("{\"since\": \"\xff\xfe\"}", &capture) == CAPTURE_ERR_INVALID_ARGUMENT);
    CHECK(capture == sentinel);

    /* The length without a buffer, then cut to fit a small one. */
    size_t full = capture_last_error(NULL, NULL, 0);
    CHECK(full > 4);
    char tiny[4] = { 'x', 'x', 'x', 'x' };
    CHECK(capture_last_error(NULL, tiny, sizeof tiny) == full);
    CHECK(tiny[3] == '\0' && strlen(tiny) == 3);
    CHECK(capture_last_error(NULL, tiny, 1) == full && tiny[0] == '\0');
    puts("ok: refused starts leave the handle alone and name the key");
}

static void null_arguments(void)
{
    capture_handle *capture = start_idle();
    capture_batch *batch = NULL;
    char *json = NULL;
    char buf[256];

    CHECK(capture_poll(NULL, 1, 0, &batch) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_poll(capture, 1, 0, NULL) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_poll(capture, 0, 0, &batch) == CAPTURE_ERR_INVALID_ARGUMENT);
    CHECK(batch == NULL);
    CHECK(strstr(last_error(capture, buf, sizeof buf), "max_records") != NULL);
    CHECK(capture_stats(NULL, &json) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_stats(capture, NULL) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_container_info(NULL, "x", &json) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_container_info(capture, NULL, &json) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_container_info(capture, "x", NULL) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_container_info(capture, "lct-unknown", &json) == CAPTURE_ERR_NOT_FOUND);
    CHECK(json == NULL);
    CHECK(strstr(last_error(capture, buf, sizeof buf), "lct-unknown") != NULL);
    CHECK(capture_container_info(capture, "\xff", &json) == CAPTURE_ERR_INVALID_ARGUMENT);
    CHECK(capture_stop(NULL) == CAPTURE_ERR_NULL_ARGUMENT);
    CHECK(capture_set_log_callback(NULL, NULL, NULL) == CAPTURE_ERR_NULL_ARGUMENT);
    capture_batch_free(NULL);
    capture_string_free(NULL);
    capture_free(NULL);

    /* A poll that waits for nothing: an empty batch, still to be freed. */
    CHECK(capture_poll(capture, 10, 0, &batch) == CAPTURE_OK);
    CHECK(batch != NULL && batch->len == 0 && batch->message_bytes == 0);
    capture_batch_free(batch);
    double begin = now_s();
    CHECK(capture_poll(capture, 10, 100, &batch) == CAPTURE_OK);
    CHECK(batch->len == 0 && now_s() - begin >= 0.09);
    capture_batch_free(batch);

    CHECK(capture_stats(capture, &json) == CAPTURE_OK);
    CHECK(json != NULL && strstr(json, "\"containers\"") != NULL);
    capture_string_free(json);

    CHECK(capture_stop(capture) == CAPTURE_OK);
    capture_free(capture);
    puts("ok: NULL and bad arguments are refused");
}

static void stop_twice_and_after_stop(void)
{
    capture_handle *capture = start_idle();
    capture_batch *batch = NULL;
    char *json = NULL;
    char buf[256];

    CHECK(capture_stop(capture) == CAPTURE_OK);
    CHECK(capture_stop(capture) == CAPTURE_OK);
    CHECK(capture_poll(capture, 10, 1000, &batch) == CAPTURE_ERR_STOPPED);
    CHECK(batch == NULL);
    CHECK(strstr(last_error(capture, buf, sizeof buf), "stopped") != NULL);
    CHECK(capture_poll(capture, 10, 0, &batch) == CAPTURE_ERR_STOPPED);
    CHECK(capture_stats(capture, &json) == CAPTURE_OK); /* the last figures */
    capture_string_free(json);
    CHECK(capture_stop(capture) == CAPTURE_OK);
    capture_free(capture);

    /* Free without stop stops by itself. */
    capture_free(start_idle());
    puts("ok: double stop, calls after stop, free without stop");
}

struct poller {
    capture_handle *capture;
    pthread_barrier_t *ready;
    capture_result result;
    double returned_at;
};

static void *poll_until_stopped(void *arg)
{
    struct poller *p = arg;
    capture_batch *batch = NULL;
    pthread_barrier_wait(p->ready);
    p->result = capture_poll(p->capture, 10, 60000, &batch);
    p->returned_at = now_s();
    capture_batch_free(batch);
    return NULL;
}

static void stop_wakes_blocked_polls(void)
{
    enum { POLLERS = 4 };
    capture_handle *capture = start_idle();
    pthread_barrier_t ready;
    CHECK(pthread_barrier_init(&ready, NULL, POLLERS + 1) == 0);
    pthread_t threads[POLLERS];
    struct poller pollers[POLLERS];
    for (int i = 0; i < POLLERS; i++) {
        pollers[i] = (struct poller){ .capture = capture, .ready = &ready, .result = CAPTURE_OK };
        CHECK(pthread_create(&threads[i], NULL, poll_until_stopped, &pollers[i]) == 0);
    }
    pthread_barrier_wait(&ready);
    /* Give the pollers time to block; the checks hold whether they did or not. */
    nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
    double stopped_at = now_s();
    CHECK(capture_stop(capture) == CAPTURE_OK);
    for (int i = 0; i < POLLERS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(pollers[i].result == CAPTURE_ERR_STOPPED);
        CHECK(pollers[i].returned_at - stopped_at < 5.0);
    }
    CHECK(now_s() - stopped_at < 5.0);
    pthread_barrier_destroy(&ready);
    capture_free(capture);
    puts("ok: stop from another thread wakes blocked polls");
}

struct log_count {
    pthread_mutex_t lock;
    int lines;
};

static void count_line(void *user_data, int32_t level, const char *message)
{
    struct log_count *count = user_data;
    if (level >= CAPTURE_LOG_ERROR && level <= CAPTURE_LOG_DEBUG && message != NULL) {
        pthread_mutex_lock(&count->lock);
        count->lines++;
        pthread_mutex_unlock(&count->lock);
    }
}

static void log_callback(void)
{
    struct log_count count = { .lines = 0 };
    pthread_mutex_init(&count.lock, NULL);
    capture_handle *capture = start_idle();
    CHECK(capture_set_log_callback(capture, count_line, &count) == CAPTURE_OK);
    CHECK(capture_set_log_callback(capture, NULL, NULL) == CAPTURE_OK);
    CHECK(capture_set_log_callback(capture, count_line, &count) == CAPTURE_OK);
    CHECK(capture_stop(capture) == CAPTURE_OK);
    capture_free(capture);
    pthread_mutex_destroy(&count.lock);
    puts("ok: log callback set, unset and set again");
}

static void many_cycles(void)
{
    for (int i = 0; i < 20; i++) {
        capture_handle *capture = start_idle();
        capture_batch *batch = NULL;
        CHECK(capture_poll(capture, 1, 5, &batch) == CAPTURE_OK);
        capture_batch_free(batch);
        if (i % 2 == 0)
            CHECK(capture_stop(capture) == CAPTURE_OK);
        capture_free(capture);
    }
    puts("ok: 20 start/free cycles");
}

int main(void)
{
    static_strings();
    bad_starts();
    null_arguments();
    stop_twice_and_after_stop();
    stop_wakes_blocked_polls();
    log_callback();
    many_cycles();
    printf("abi_misuse: %d checks passed\n", checks);
    return 0;
}
