import { Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/**
 * Nest's default RPC exception filter replaces a handler's error with "Internal server error".
 * Install this one (app.useGlobalFilters) on event-consuming microservices so KafkaEventTransport
 * sees the real error: NonRetryableError stays recognisable and the dead-letter header says what
 * went wrong. Hybrid apps built with createHttpApp get the same from ProblemFilter.
 */
@Catch()
export class EventErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
