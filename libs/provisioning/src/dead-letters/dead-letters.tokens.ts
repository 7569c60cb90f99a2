/** The DeadLetterReader of the dead-letter API (over the provisioning service's own Kafka client). */
export const DEAD_LETTER_READER = Symbol('DEAD_LETTER_READER');
/** The Kafka client under it (closed at shutdown). */
export const DEAD_LETTERS_KAFKA = Symbol('DEAD_LETTERS_KAFKA');
