// Command notify is the example agent that turns triaged issues into chat messages (logged,
// not sent) and emits agents.notify.events.message.sent. NOTIFY_CHANNEL names the channel.
package main

import (
	"os"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/examples"
)

func main() { agents.Main(examples.NotifyConfig(os.Getenv("NOTIFY_CHANNEL"))) }
