package subjects

// InboxPrefix is the prefix of an agent's reply inboxes, "_INBOX_<agent>": an agent
// subscribes to its own inboxes only, so no agent can read another's replies.
func InboxPrefix(agent string) string { return "_INBOX_" + Token(agent) }

// AgentPublish lists the subjects an agent may publish to when the server enforces
// permissions: its own events and dead letters, tasks for other agents, requests to other
// agents, and the JetStream API calls that bind, read and acknowledge its own durable
// consumers and its own keys in the hookbus buckets. Nothing under webhooks.>, and no
// other agent's events, nor anything on another agent's replay subject (Replays): only the
// bridge's admin login (the recovery tools) and the agent itself can put a copy there.
func AgentPublish(agent string) []string {
	a := Token(agent)
	subs := []string{
		AgentsRoot + "." + a + ".>",
		AgentsRoot + ".*." + tasksToken + ".>",
		DLQ(a),
		RPCRoot + ".>",
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO.*",
		"$JS.API.CONSUMER.CREATE.*." + a,
		"$JS.API.CONSUMER.CREATE.*." + a + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE.*." + a,
		"$JS.API.CONSUMER.INFO.*." + a,
		"$JS.API.CONSUMER.MSG.NEXT.*." + a,
		"$JS.ACK.*." + a + ".>",
	}
	for _, b := range []string{BucketDone, BucketTasks} {
		subs = append(subs,
			"$KV."+b+"."+a+".>",
			"$JS.API.DIRECT.GET.KV_"+b+".$KV."+b+"."+a+".>",
			"$JS.API.STREAM.MSG.GET.KV_"+b,
			"$JS.API.CONSUMER.CREATE.KV_"+b+".*.$KV."+b+"."+a+".>",
			"$JS.API.CONSUMER.DELETE.KV_"+b+".*",
		)
	}
	return subs
}

// AgentSubscribe lists the subjects an agent may subscribe to when the server enforces
// permissions: its own inboxes and its own request subjects. Stored events, its replay
// subject included, reach it only through its own durable consumers, whose deliveries
// arrive on its inboxes.
func AgentSubscribe(agent string) []string {
	return []string{InboxPrefix(agent) + ".>", RPCRoot + "." + Token(agent) + ".>"}
}
