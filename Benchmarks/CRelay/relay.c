// The baseline for `ganglion-bench mqtt`: the smallest useful MQTT in -> MQTT out hop, written
// directly on libmosquitto. Subscribes to IN_TOPIC and republishes every payload unchanged to
// OUT_TOPIC, both at QoS 0, with TCP_NODELAY, on libmosquitto's own single-threaded loop.
//
// Usage: mqtt-relay-c HOST PORT IN_TOPIC OUT_TOPIC [--daemon-like]
// With --daemon-like it also makes the three other publishes the daemon makes per MQTT input
// (qos 0): an event JSON of about 200 bytes to OUT_TOPIC/events, the value retained to
// OUT_TOPIC/state, and a `fired` event JSON to OUT_TOPIC/fired; this tells the broker's share
// of the daemon's cost from the daemon's own.
// Runs until killed or the connection fails; errors go to stderr.
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relay {
  const char *in_topic;
  const char *out_topic;
  int daemon_like;
  char events_topic[256], state_topic[256], fired_topic[256];
};

static void publish(struct mosquitto *mosq, const char *topic, int length, const void *payload, bool retain) {
  int err = mosquitto_publish(mosq, NULL, topic, length, payload, 0, retain);
  if (err != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "mqtt-relay-c: publish %s: %s\n", topic, mosquitto_strerror(err));
  }
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc) {
  struct relay *relay = userdata;
  if (rc != 0) {
    fprintf(stderr, "mqtt-relay-c: connect refused: %s\n", mosquitto_connack_string(rc));
    exit(1);
  }
  int err = mosquitto_subscribe(mosq, NULL, relay->in_topic, 0);
  if (err != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "mqtt-relay-c: subscribe %s: %s\n", relay->in_topic, mosquitto_strerror(err));
    exit(1);
  }
}

static void on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *message) {
  struct relay *relay = userdata;
  publish(mosq, relay->out_topic, message->payloadlen, message->payload, false);
  if (relay->daemon_like) {
    char json[512];
    int length = snprintf(
        json, sizeof json,
        "{\"seq\":1042,\"id\":\"bench:1042\",\"time\":\"2026-11-29T18:02:03.123456Z\",\"kind\":\"signal\","
        "\"signal\":\"bench.in\",\"value\":%.*s,\"previous\":1041,\"source\":\"mqtt\",\"cause\":null,"
        "\"rule\":null}",
        message->payloadlen, (const char *)message->payload);
    publish(mosq, relay->events_topic, length, json, false);
    publish(mosq, relay->state_topic, message->payloadlen, message->payload, true);
    publish(mosq, relay->fired_topic, length, json, false);
  }
}

int main(int argc, char **argv) {
  int daemon_like = argc == 6 && strcmp(argv[5], "--daemon-like") == 0;
  if (argc != 5 && !daemon_like) {
    fprintf(stderr, "usage: mqtt-relay-c HOST PORT IN_TOPIC OUT_TOPIC [--daemon-like]\n");
    return 2;
  }
  struct relay relay = {argv[3], argv[4], daemon_like, "", "", ""};
  snprintf(relay.events_topic, sizeof relay.events_topic, "%s/events", relay.out_topic);
  snprintf(relay.state_topic, sizeof relay.state_topic, "%s/state", relay.out_topic);
  snprintf(relay.fired_topic, sizeof relay.fired_topic, "%s/fired", relay.out_topic);
  mosquitto_lib_init();
  struct mosquitto *mosq = mosquitto_new(NULL, true, &relay);
  if (!mosq) {
    perror("mqtt-relay-c: mosquitto_new");
    return 1;
  }
  mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_message_callback_set(mosq, on_message);
  int err = mosquitto_connect(mosq, argv[1], atoi(argv[2]), 30);
  if (err != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "mqtt-relay-c: connect %s:%s: %s\n", argv[1], argv[2], mosquitto_strerror(err));
    return 1;
  }
  err = mosquitto_loop_forever(mosq, -1, 1);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  fprintf(stderr, "mqtt-relay-c: %s\n", mosquitto_strerror(err));
  return 1;
}
