// Package embedded runs a NATS server with JetStream inside the hookbus process, storing its
// streams in files under one directory, with its log routed into zerolog.
//
// The server never installs signal handlers of its own (it would exit the process on
// SIGINT): the owner of the process stops it with Shutdown, after everything that publishes
// to it has stopped.
package embedded
