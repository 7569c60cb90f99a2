import { QueueNews } from './queue-news';

const t = (id: string, subject: string | null = `Subject ${id}`) => ({ id, subject });

it('says nothing for the first page of a status, nor for a refresh with nothing new', () => {
  const news = new QueueNews();
  expect(news.refresh('pending', 'Awaiting approval', [t('a'), t('b')])).toBeNull();
  expect(news.refresh('pending', 'Awaiting approval', [t('b'), t('a')])).toBeNull();
  expect(news.refresh('pending', 'Awaiting approval', [t('a')])).toBeNull();
});

it('names one new ticket, or counts and names several', () => {
  const news = new QueueNews();
  news.refresh('pending', 'Awaiting approval', [t('a')]);
  expect(news.refresh('pending', 'Awaiting approval', [t('a'), t('b', 'Pushed while watching')])).toBe('New ticket (Awaiting approval): Pushed while watching');
  expect(news.refresh('pending', 'Awaiting approval', [t('a'), t('b'), t('c', null), t('d'), t('e'), t('f')])).toBe(
    '4 new tickets (Awaiting approval): (no subject); Subject d; Subject e and 1 more',
  );
});

it('tells a ticket back in the list from a new one, and says both when one refresh brings both', () => {
  const news = new QueueNews();
  news.refresh('pending', 'Awaiting approval', [t('a', 'Where is my refund?'), t('b')]);
  expect(news.refresh('pending', 'Awaiting approval', [t('b')])).toBeNull(); // rejected: it left
  expect(news.refresh('pending', 'Awaiting approval', [t('c', 'Pushed while watching'), t('a', 'Where is my refund?'), t('b')])).toBe(
    'New ticket (Awaiting approval): Pushed while watching. Back in Awaiting approval: Where is my refund?',
  );
  news.refresh('pending', 'Awaiting approval', []);
  expect(news.refresh('pending', 'Awaiting approval', [t('a'), t('b')])).toBe('2 tickets back in Awaiting approval: Subject a; Subject b');
});

it('starts again when the status changes: another status\'s list is no news', () => {
  const news = new QueueNews();
  news.refresh('pending', 'Awaiting approval', [t('a')]);
  expect(news.refresh('replied', 'Replied', [t('x'), t('y')])).toBeNull();
  expect(news.refresh('replied', 'Replied', [t('x'), t('y'), t('z', 'Thanks')])).toBe('New ticket (Replied): Thanks');
  expect(news.refresh('pending', 'Awaiting approval', [t('a'), t('b')])).toBeNull();
});
