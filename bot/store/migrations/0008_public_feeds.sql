-- A daily schedule's public Atom feed (bot/web): off while feed_token is NULL. The token is a
-- random, unguessable string (secrets.token_urlsafe) that is the feed's URL; an admin turns it
-- on with /daily set ... public_feed:true and sees the URL in the private answer.
ALTER TABLE schedules ADD COLUMN feed_token TEXT;
CREATE UNIQUE INDEX schedules_feed_token ON schedules(feed_token) WHERE feed_token IS NOT NULL;
