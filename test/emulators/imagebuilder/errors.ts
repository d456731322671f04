/** Image Builder's modelled errors and their HTTP status codes (from @aws-sdk/client-imagebuilder's schema). */
export const ERROR_STATUS = {
  AccessDeniedException: 403,
  CallRateLimitExceededException: 429,
  ClientException: 400,
  DryRunOperationException: 412,
  ForbiddenException: 403,
  IdempotentParameterMismatchException: 400,
  InvalidPaginationTokenException: 400,
  InvalidParameterCombinationException: 400,
  InvalidParameterException: 400,
  InvalidParameterValueException: 400,
  InvalidRequestException: 400,
  InvalidVersionNumberException: 400,
  ResourceAlreadyExistsException: 400,
  ResourceDependencyException: 400,
  ResourceInUseException: 400,
  ResourceNotFoundException: 404,
  ServiceException: 500,
  ServiceQuotaExceededException: 402,
  ServiceUnavailableException: 503,
} as const;

export type ImageBuilderErrorCode = keyof typeof ERROR_STATUS;

export class ImageBuilderError extends Error {
  constructor(
    readonly code: ImageBuilderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const invalidValue = (message: string) =>
  new ImageBuilderError("InvalidParameterValueException", message);
export const notFound = (message: string) => new ImageBuilderError("ResourceNotFoundException", message);
