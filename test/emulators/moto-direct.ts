import { DescribeImagesCommand, EC2Client, type Image } from "@aws-sdk/client-ec2";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { MotoServer } from "./moto.js";

export const LOCAL_CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" } as const;

/**
 * The local AWS's own calls to moto (validating parent images and parameter values, registering
 * built AMIs, publishing notifications). They go straight to moto, not through the fault proxy, so
 * they never show up in `calls()` and never meet injected faults: those are for the code under test.
 */
export class MotoDirect {
  private readonly ec2 = new Map<string, EC2Client>();
  private readonly ssm = new Map<string, SSMClient>();
  private readonly sns = new Map<string, SNSClient>();

  constructor(
    readonly moto: MotoServer,
    readonly accountId: string,
  ) {}

  private config(region: string) {
    return { region, endpoint: this.moto.url, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
  }

  private client<T>(cache: Map<string, T>, region: string, make: () => T): T {
    let client = cache.get(region);
    if (!client) {
      client = make();
      cache.set(region, client);
    }
    return client;
  }

  /** The image as this account sees it in `region`, or undefined when there is no such image. */
  async describeImage(region: string, imageId: string): Promise<Image | undefined> {
    if (!/^ami-[0-9a-f]+$/.test(imageId)) return undefined;
    const ec2 = this.client(this.ec2, region, () => new EC2Client(this.config(region)));
    try {
      const out = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      return out.Images?.find((image) => image.ImageId === imageId);
    } catch (error) {
      if (/InvalidAMIID/.test((error as Error).name)) return undefined;
      throw error;
    }
  }

  /** Whether this account already owns an AMI with this name in `region` (names are unique per region). */
  async ownImageNamed(region: string, name: string): Promise<boolean> {
    const ec2 = this.client(this.ec2, region, () => new EC2Client(this.config(region)));
    const out = await ec2.send(
      new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: [name] }] }),
    );
    return (out.Images ?? []).some((image) => image.Name === name);
  }

  async getParameter(region: string, name: string): Promise<{ value: string; version: number } | undefined> {
    const ssm = this.client(this.ssm, region, () => new SSMClient(this.config(region)));
    try {
      const out = await ssm.send(new GetParameterCommand({ Name: name }));
      return { value: out.Parameter?.Value ?? "", version: out.Parameter?.Version ?? 0 };
    } catch (error) {
      if ((error as Error).name === "ParameterNotFound") return undefined;
      throw error;
    }
  }

  async putParameter(region: string, name: string, value: string, dataType: string): Promise<void> {
    const ssm = this.client(this.ssm, region, () => new SSMClient(this.config(region)));
    await ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "String",
        DataType: dataType,
        Overwrite: true,
      }),
    );
  }

  async publish(topicArn: string, message: string): Promise<void> {
    const region = topicArn.split(":")[3] ?? "us-east-1";
    const sns = this.client(this.sns, region, () => new SNSClient(this.config(region)));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: message }));
  }

  async registerImage(input: {
    region: string;
    name: string;
    description?: string;
    architecture: string;
    rootDeviceName: string;
    /** EBS volumes with their encryption; the launcher makes one snapshot per volume. */
    blockDevices?: readonly {
      deviceName: string;
      volumeSize: number;
      volumeType: string;
      encrypted: boolean;
      kmsKeyId?: string;
      iops?: number;
      throughput?: number;
      deleteOnTermination: boolean;
    }[];
    tags: Readonly<Record<string, string>>;
    creationDate: string;
  }): Promise<string> {
    const out = await this.moto.control<{ imageId: string }>("register-image", {
      ...input,
      accountId: this.accountId,
    });
    return out.imageId;
  }

  async setImageState(
    region: string,
    imageId: string,
    state: string,
    reason?: { code: string; message: string },
  ): Promise<void> {
    await this.moto.control("image-state", {
      region,
      accountId: this.accountId,
      imageId,
      state,
      ...(reason ? { reason } : {}),
    });
  }

  destroy(): void {
    for (const cache of [this.ec2, this.ssm, this.sns] as Map<string, { destroy(): void }>[]) {
      for (const client of cache.values()) client.destroy();
      cache.clear();
    }
  }
}
