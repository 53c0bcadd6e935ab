import { schedule, type ScheduledTask } from 'node-cron';

/**
 * Calls `onDayTurn` at 00:00 Asia/Shanghai, when WeChat's daily quotas roll over: apps
 * stopped by 45009 may fetch again. (Counters themselves are keyed by the Beijing day and
 * need no timer; this only wakes what is sleeping.)
 */
export function scheduleDayTurn(onDayTurn: () => void): { stop(): void } {
  const task: ScheduledTask = schedule('0 0 0 * * *', onDayTurn, {
    timezone: 'Asia/Shanghai',
    noOverlap: true,
    name: 'wxtoken-day-turn',
  });
  return { stop: () => void task.stop() };
}
