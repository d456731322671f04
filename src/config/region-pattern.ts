/** AWS region names (commercial, GovCloud, China, ISO). Its own module: the CLI checks flags with it before loading any schema. */
export const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;
