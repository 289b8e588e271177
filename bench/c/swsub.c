/* QoS 1 counting subscriber: the broker's delivery rate to a lean client.
 * usage: swsub HOST PORT FILTER COUNT TIMEOUT_S [IDLE_S]
 * Prints "ready" once subscribed, then one JSON line with the first/last arrival times.
 * IDLE_S > 0: also stop once IDLE_S pass without a message after the first, for a member of a
 * shared subscription, which cannot know how many of the messages the broker will give it. */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long got = 0, want = 0;
static double first = 0, last = 0;
static int subscribed = 0;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int n, const int *q) {
    (void)m; (void)o; (void)mid; (void)n; (void)q; subscribed = 1;
}
static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg) {
    (void)m; (void)o; (void)msg;
    double t = now_s();
    if (got == 0) first = t;
    last = t;
    got++;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) { fprintf(stderr, "usage: swsub HOST PORT FILTER COUNT TIMEOUT_S [IDLE_S]\n"); return 2; }
    want = atol(argv[4]);
    double timeout = atof(argv[5]);
    double idle = argc == 7 ? atof(argv[6]) : 0;
    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "swsub-%d", (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, argv[1], atoi(argv[2]), 60) != MOSQ_ERR_SUCCESS) { fprintf(stderr, "connect failed\n"); return 1; }
    mosquitto_subscribe(m, NULL, argv[3], 1);
    double deadline = now_s() + timeout;
    while (!subscribed && now_s() < deadline) mosquitto_loop(m, 100, 1);
    printf("ready\n");
    fflush(stdout);
    while (got < want && now_s() < deadline) {
        mosquitto_loop(m, 100, 1);
        if (idle > 0 && got > 0 && now_s() - last > idle) break;
    }
    printf("{\"messages\":%ld,\"first\":%.6f,\"last\":%.6f}\n", got, first, last);
    fflush(stdout);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return got == want || idle > 0 ? 0 : 1;
}
