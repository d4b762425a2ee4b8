-- Lívia's conversations as durable actors (issue 12). The tables exist since 001; the transcript
-- gains the kind of each message and, for Lívia's and consultants' replies, their number in the
-- conversation: the actor records a reply in the transaction of the event that produced it, and the
-- unique number makes that write idempotent.
alter table conversation_messages
  add column kind text not null default 'text' check (kind in ('text', 'voice', 'image', 'document', 'other')),
  add column reply_n integer check (reply_n > 0);
create unique index conversation_messages_reply_key on conversation_messages (conversation_id, reply_n) where reply_n is not null;
