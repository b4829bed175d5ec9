// The baseline for `ganglion-bench mqtt`: the smallest useful MQTT in -> MQTT out hop, written
// directly on libmosquitto. Subscribes to IN_TOPIC and republishes every payload unchanged to
// OUT_TOPIC, both at QoS 0, with TCP_NODELAY, on libmosquitto's own single-threaded loop.
//
// Usage: mqtt-relay-c HOST PORT IN_TOPIC OUT_TOPIC
// Runs until killed or the connection fails; errors go to stderr.
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>

struct relay {
  const char *in_topic;
  const char *out_topic;
};

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
  int err = mosquitto_publish(mosq, NULL, relay->out_topic, message->payloadlen, message->payload, 0, false);
  if (err != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "mqtt-relay-c: publish %s: %s\n", relay->out_topic, mosquitto_strerror(err));
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: mqtt-relay-c HOST PORT IN_TOPIC OUT_TOPIC\n");
    return 2;
  }
  struct relay relay = {argv[3], argv[4]};
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
