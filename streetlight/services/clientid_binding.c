/*
 * Streetlight's binding of client ids to identities, a Mosquitto 2.0 plugin (API version 5).
 *
 * MQTT resumes a session by its client id alone, and Mosquitto lets any identity connect with
 * any client id: a device identity that connects as the gateway's client takes its connection
 * over, and with a clean session wipes the reports queued for it. Here an identity (the MQTT
 * user name) may connect only with a client id that is its own name, or its name and "-"
 * followed by anything ("gateway-gw-1", "slc-mqtt-a-sim-..."): no identity can connect as
 * another's client. Anything else is refused as not authorised, before the password file is
 * consulted (which decides the rest); an anonymous client is left to it (refused there).
 *
 * Built by `streetlight services` (streetlight/services/_clientid.py), docs/contract.md.
 */
#include <string.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id = NULL;

static int basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *id = mosquitto_client_id(ed->client);
	size_t n;

	(void)event;
	(void)userdata;
	if(ed->username == NULL || id == NULL){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	n = strlen(ed->username);
	if(strncmp(id, ed->username, n) == 0 && (id[n] == '\0' || id[n] == '-')){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "client id %s refused to %s", id, ed->username);
	return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5){
			return 5;
		}
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
		struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data; (void)opts; (void)opt_count;
	plugin_id = identifier;
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data; (void)opts; (void)opt_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, basic_auth, NULL);
}
