"""Messages that leave the system (SPEC section 9): the senders behind one interface
(``outcome``), and the queue that hands sends to them off the partition's path."""
