package local.runner.thrift;

import java.util.Set;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.catalyst.parser.ParserInterface;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import scala.Option;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.collection.Seq;

/**
 * The session's SQL parser, refusing statements once the session's settings were changed.
 *
 * <p>The Thrift protocol lets a client send settings when it opens a session (Spark applies
 * them as SQL conf), which would undo the server's {@code spark.sql.runSQLOnFiles=false} and
 * {@code spark.sql.variable.substitute=false}. The check runs before the statement is parsed,
 * because variable substitution happens while parsing.
 */
final class GuardedParser implements ParserInterface {
  /** Settings the Thrift server gives every session besides its Spark conf and --hiveconf. */
  private static final Set<String> SERVER_SET = Set.of("spark.sql.datetime.java8API.enabled");

  private final SparkSession session;
  private final ParserInterface delegate;

  GuardedParser(SparkSession session, ParserInterface delegate) {
    this.session = session;
    this.delegate = delegate;
  }

  private void verifySettings() {
    Iterator<Tuple2<String, String>> it = session.sessionState().conf().getAllConfs().iterator();
    while (it.hasNext()) {
      Tuple2<String, String> entry = it.next();
      if (!isServerSetting(entry._1(), entry._2())) {
        throw new SecurityException(
            "this Thrift server is read-only: sessions may not change settings ("
                + entry._1()
                + ")");
      }
    }
  }

  /** Whether the server itself gave this value: its Spark conf, its session options, --hiveconf. */
  private boolean isServerSetting(String key, String value) {
    if (SERVER_SET.contains(key)) {
      return true;
    }
    SparkConf[] confs = {session.sharedState().conf(), session.sparkContext().getConf()};
    for (SparkConf conf : confs) {
      Option<String> found = conf.getOption(key);
      if (found.isDefined() && found.get().equals(value)) {
        return true;
      }
    }
    Option<String> option = session.initialSessionOptions().get(key);
    return (option.isDefined() && option.get().equals(value))
        || value.equals(System.getProperty(key));
  }

  @Override
  public LogicalPlan parsePlan(String sqlText) throws ParseException {
    verifySettings();
    return delegate.parsePlan(sqlText);
  }

  @Override
  public LogicalPlan parseQuery(String sqlText) throws ParseException {
    verifySettings();
    return delegate.parseQuery(sqlText);
  }

  @Override
  public Expression parseExpression(String sqlText) throws ParseException {
    return delegate.parseExpression(sqlText);
  }

  @Override
  public TableIdentifier parseTableIdentifier(String sqlText) throws ParseException {
    return delegate.parseTableIdentifier(sqlText);
  }

  @Override
  public FunctionIdentifier parseFunctionIdentifier(String sqlText) throws ParseException {
    return delegate.parseFunctionIdentifier(sqlText);
  }

  @Override
  public Seq<String> parseMultipartIdentifier(String sqlText) throws ParseException {
    return delegate.parseMultipartIdentifier(sqlText);
  }

  @Override
  public StructType parseTableSchema(String sqlText) throws ParseException {
    return delegate.parseTableSchema(sqlText);
  }

  @Override
  public DataType parseDataType(String sqlText) throws ParseException {
    return delegate.parseDataType(sqlText);
  }
}
