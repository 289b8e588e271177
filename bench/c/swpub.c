/* QoS 1 telemetry publisher for the benchmarks: as fast as possible or at a fixed rate.
 * usage: swpub HOST PORT PREFIX COUNT RATE STATIONS BATCH TSMODE
 *   COUNT messages; RATE msg/s (0 = as fast as the broker takes them); STATIONS distinct ids;
 *   BATCH readings per message (1 = a bare reading, >1 = {"readings": [...]});
 *   TSMODE "seq" = unique synthetic timestamps (base + index ms), "now" = the wall clock.
 * Prints one JSON line: start, end of publishing, time the last PUBACK came back. */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WINDOW
#define WINDOW 1000
#endif
static volatile long acked = 0;
static volatile int connected = 0;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *o, int rc) { (void)m; (void)o; connected = rc == 0 ? 1 : -1; }
static void on_publish(struct mosquitto *m, void *o, int mid) { (void)m; (void)o; (void)mid; __sync_fetch_and_add(&acked, 1); }

static int in_alarm = 0; /* every battery below the alert thresholds: the engine keeps state */

static int reading(char *out, size_t cap, double ts, long seq) {
    return snprintf(out, cap,
        "{\"ts\":%.3f,\"seq\":%ld,\"pv_voltage_v\":%.2f,\"pv_current_a\":%.2f,\"pv_power_w\":%.1f,"
        "\"battery_voltage_v\":%.2f,\"battery_current_a\":%.2f,\"battery_soc_pct\":%.1f,"
        "\"load_power_w\":%.1f,\"charge_state\":\"bulk\"}",
        ts, seq, 40.0 + (seq % 100) / 10.0, 8.0 + (seq % 50) / 10.0, 350.0 + seq % 200,
        25.0 + (seq % 30) / 10.0, 10.0 + (seq % 40) / 10.0,
        in_alarm ? 10.0 + seq % 15 : 50.0 + seq % 50, 120.0 + seq % 80);
}

int main(int argc, char **argv) {
    if (argc != 9 && argc != 10) {
        fprintf(stderr, "usage: swpub HOST PORT PREFIX COUNT RATE STATIONS BATCH seq|now [alarm]\n");
        return 2;
    }
    in_alarm = argc == 10 && strcmp(argv[9], "alarm") == 0;
    const char *host = argv[1], *prefix = argv[3];
    int port = atoi(argv[2]);
    long count = atol(argv[4]);
    double rate = atof(argv[5]);
    long stations = atol(argv[6]);
    long batch = atol(argv[7]);
    int wallclock = strcmp(argv[8], "now") == 0;
    double base = (double)(long)now_s() - 3600.0;

    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "swpub-%d", (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, 0);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) { fprintf(stderr, "connect failed\n"); return 1; }
    /* One thread: publish writes straight to the socket; PUBACKs are read between publishes. */
    for (int i = 0; i < 1000 && connected == 0; i++) mosquitto_loop(m, 10, 1);
    if (connected != 1) { fprintf(stderr, "not connected\n"); return 1; }

    size_t cap = 256 * (size_t)batch + 64;
    char *payload = malloc(cap);
    char topic[256];
    double start = now_s();
    long rd = 0;
    for (long i = 0; i < count; i++) {
        /* libmosquitto searches its outgoing list linearly on each PUBACK: keep it short. */
        while (i - acked >= WINDOW) mosquitto_loop(m, 5, 1);
        if (rate > 0) {
            double due = start + i / rate, t;
            while ((t = now_s()) < due) mosquitto_loop(m, (int)((due - t) * 1000), 1);
        } else if (i % 64 == 0) {
            mosquitto_loop(m, 0, 1);
        }
        snprintf(topic, sizeof topic, "%s/S%05ld/solar/mppt1/telemetry", prefix, i % stations);
        size_t n = 0;
        if (batch > 1) n += snprintf(payload + n, cap - n, "{\"readings\":[");
        for (long j = 0; j < batch; j++, rd++) {
            double ts = wallclock ? now_s() : base + rd / 1000.0;
            if (j) payload[n++] = ',';
            n += reading(payload + n, cap - n, ts, rd);
        }
        if (batch > 1) n += snprintf(payload + n, cap - n, "]}");
        int rc;
        while ((rc = mosquitto_publish(m, NULL, topic, (int)n, payload, 1, false)) == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_NOMEM)
            mosquitto_loop(m, 1, 1);
        if (rc != MOSQ_ERR_SUCCESS) { fprintf(stderr, "publish: %s\n", mosquitto_strerror(rc)); return 1; }
    }
    double published = now_s();
    while (acked < count) mosquitto_loop(m, 10, 1);
    double done = now_s();
    printf("{\"messages\":%ld,\"readings\":%ld,\"start\":%.6f,\"published\":%.6f,\"acked\":%.6f}\n",
           count, rd, start, published, done);
    fflush(stdout);
    mosquitto_disconnect(m);
    mosquitto_loop(m, 10, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
